/* MIKEY-SAKKE user identifier (UID) derivation, TS 33.180 Annex F.2.1. */
#ifndef MCX_UID_H
#define MCX_UID_H

#include <stddef.h>
#include <stdint.h>

#define UID_LEN 32

/*
 * UID = SHA-256(0x00 || "MIKEY-SAKKE-UID" || 0x000F || P1 L1 || ... || P5 L5)
 * with P1 the user URI, P2 the KMS URI, P3 the key period length, P4 its
 * offset and P5 the key period number, integers in the fewest octets.
 * Returns 0, or -EINVAL when a string is longer than 65535, -EIO on a
 * library failure.
 */
int uid_derive(const char *user_uri, size_t user_len, const char *kms_uri, size_t kms_len,
    uint64_t key_period, uint64_t key_offset, uint64_t period_no, uint8_t uid[UID_LEN]);

/*
 * Key period number for NTP time t (seconds since 1900):
 * floor((t - offset) / period).  Returns -EINVAL for a zero period or a time
 * before the offset.
 */
int uid_period_no(uint64_t ntp_seconds, uint64_t key_period, uint64_t key_offset,
    uint64_t *period_no);

#endif
