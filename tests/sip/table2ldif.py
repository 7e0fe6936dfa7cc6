#!/usr/bin/env python3
"""Turn a lookup table's entries (the libconfig text make_conf writes) into directory entries.

    table2ldif.py BASE < entries-text > entries.ldif

The ldap backend answers for exact users and for "scheme:*@domain" (a
domain's users); any other wildcard has no directory form, and is refused
(exit 2) rather than silently dropped.
"""
import re
import sys

ENTRY = re.compile(r'user\s*=\s*"([^"]*)"\s*;\s*domains\s*=\s*\((.*?)\)\s*;?\s*\}', re.S)
DOMAIN = re.compile(r'kms\s*=\s*"([^"]*)"\s*;(?:\s*external\s*=\s*\[([^\]]*)\]\s*;)?')
WIDE = re.compile(r'^[a-z][a-z0-9+.-]*:\*@[^*]+$')


def main():
    base = sys.argv[1]
    text = sys.stdin.read()
    out = [f"dn: {base}", "objectClass: organizationalUnit", f"ou: {base.split(',')[0].split('=')[1]}", ""]
    for i, (user, doms) in enumerate(ENTRY.findall(text)):
        if "*" in user and not WIDE.match(user):
            print(f"table2ldif: {user}: no directory form (exact users and scheme:*@domain only)",
                  file=sys.stderr)
            sys.exit(2)
        out += [f"dn: cn=e{i},{base}", "objectClass: applicationProcess", "objectClass: mcxUser",
                f"cn: e{i}", f"mcxUserUri: {user}"]
        for kms, ext in DOMAIN.findall(doms):
            exts = re.findall(r'"([^"]*)"', ext or "")
            out.append("mcxSecurityDomain: " + " ".join([kms] + exts))
        out.append("")
    print("\n".join(out))


main()
