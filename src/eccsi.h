/* ECCSI signature verification (RFC 6507) on P-256, for the SIGN payload of an I_MESSAGE. */
#ifndef MCX_ECCSI_H
#define MCX_ECCSI_H

#include <stddef.h>
#include <stdint.h>

#define ECCSI_KPAK_LEN	65	/* 0x04 || x || y */
#define ECCSI_SIG_LEN	129	/* r (32) || s (32) || PVT (65) */

/*
 * Verify sig over msg for the identifier id (for MCX the 32-octet UID of
 * TS 33.180 F.2.1) under kpak, the KMS's public authentication key
 * (RFC 6507 5.2.2).  Returns 0 when it verifies, -EPERM when it does not,
 * -EINVAL for malformed inputs (lengths, a point not on the curve, r or s
 * out of range), -ENOMEM / -EIO on library failure.
 */
int eccsi_verify(const uint8_t kpak[ECCSI_KPAK_LEN], const uint8_t *id, size_t id_len,
    const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len);

#endif
