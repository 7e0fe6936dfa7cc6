/* The "ldap" lookup backend (lookup.backend = "ldap"): needs the program's Sofia-SIP event loop. */
#ifndef MCX_LOOKUP_LDAP_H
#define MCX_LOOKUP_LDAP_H

#include <sofia-sip/su_wait.h>

#include "lookup.h"

/*
 * The backend, for lookup_register.  Its lookups answer from its cache,
 * or say LOOKUP_PENDING and ask the directory on root's loop (set with
 * lookup_ldap_attach before the first lookup; without it every lookup
 * fails): a process that never looks up (the master, -t) never connects.
 */
extern const struct lookup_ops lookup_ldap_ops;
void lookup_ldap_attach(su_root_t *root);

/* Before root is destroyed: every query fails, every connection closes; lookups fail until attached again. */
void lookup_ldap_detach(void);

#endif
