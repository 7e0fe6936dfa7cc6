/* ECCSI verification (RFC 6507 5.2.2) with OpenSSL's P-256 arithmetic; only public values are involved. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "eccsi.h"

static int sha256(const uint8_t *const parts[], const size_t lens[], size_t n, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_DigestUpdate(md, parts[i], lens[i]);
	ok = ok && EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
	return ok ? 0 : -EIO;
}

int eccsi_verify(const uint8_t kpak[ECCSI_KPAK_LEN], const uint8_t *id, size_t id_len,
    const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len)
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pk = NULL, *pvt = NULL, *y = NULL, *j = NULL;
	BN_CTX *bn = BN_CTX_new();
	BIGNUM *r, *s, *hs, *he, *a, *b, *jx, *q, *p;
	uint8_t gbuf[65], hsb[32], heb[32];
	int rc = -ENOMEM;
	bool started = false;

	if (!g || !bn)
		goto out;
	BN_CTX_start(bn);
	started = true;
	r = BN_CTX_get(bn); s = BN_CTX_get(bn); hs = BN_CTX_get(bn); he = BN_CTX_get(bn);
	a = BN_CTX_get(bn); b = BN_CTX_get(bn); jx = BN_CTX_get(bn); q = BN_CTX_get(bn);
	p = BN_CTX_get(bn);
	if (!p || (pk = EC_POINT_new(g)) == NULL || (pvt = EC_POINT_new(g)) == NULL ||
	    (y = EC_POINT_new(g)) == NULL || (j = EC_POINT_new(g)) == NULL)
		goto out;

	/* 1. Parse: lengths, uncompressed points on the curve, 0 < r < p, 0 < s < q. */
	rc = -EINVAL;
	if (sig_len != ECCSI_SIG_LEN || sig[64] != 0x04 || kpak[0] != 0x04 ||
	    !EC_GROUP_get_curve(g, p, NULL, NULL, bn) || !BN_copy(q, EC_GROUP_get0_order(g)) ||
	    !EC_POINT_oct2point(g, pk, kpak, ECCSI_KPAK_LEN, bn) ||
	    !EC_POINT_oct2point(g, pvt, sig + 64, 65, bn) ||
	    !BN_bin2bn(sig, 32, r) || !BN_bin2bn(sig + 32, 32, s) ||
	    BN_is_zero(r) || BN_cmp(r, p) >= 0 || BN_is_zero(s) || BN_cmp(s, q) >= 0)
		goto out;

	/* 2. HS = hash(G || KPAK || ID || PVT); 3. HE = hash(HS || r || M). */
	rc = -EIO;
	if (EC_POINT_point2oct(g, EC_GROUP_get0_generator(g), POINT_CONVERSION_UNCOMPRESSED, gbuf,
	    sizeof(gbuf), bn) != sizeof(gbuf))
		goto out;
	const uint8_t *hp[] = { gbuf, kpak, id, sig + 64 };
	const size_t hl[] = { 65, ECCSI_KPAK_LEN, id_len, 65 };
	const uint8_t *ep[] = { hsb, sig, msg };
	const size_t el[] = { 32, 32, msg_len };
	if (sha256(hp, hl, 4, hsb) < 0 || sha256(ep, el, 3, heb) < 0 ||
	    !BN_bin2bn(hsb, 32, hs) || !BN_bin2bn(heb, 32, he))
		goto out;

	/* 4. Y = [HS]PVT + KPAK; 5. J = [s*HE]G + [s*r]Y (every point has order q). */
	if (!EC_POINT_mul(g, y, NULL, pvt, hs, bn) || !EC_POINT_add(g, y, y, pk, bn) ||
	    !BN_mod_mul(a, s, he, q, bn) || !BN_mod_mul(b, s, r, q, bn) ||
	    !EC_POINT_mul(g, j, a, y, b, bn))
		goto out;

	/* 6. Accept iff J is not the point at infinity and Jx = r. */
	rc = -EPERM;
	if (EC_POINT_is_at_infinity(g, j) ||
	    !EC_POINT_get_affine_coordinates(g, j, jx, NULL, bn) || BN_cmp(jx, r) != 0)
		goto out;
	rc = 0;
out:
	EC_POINT_free(j);
	EC_POINT_free(y);
	EC_POINT_free(pvt);
	EC_POINT_free(pk);
	if (started)
		BN_CTX_end(bn);
	BN_CTX_free(bn);
	EC_GROUP_free(g);
	return rc;
}
