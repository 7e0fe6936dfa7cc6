/* Unit tests of server.peers: parsing, who is a peer, where requests may go (src/access.c). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "access.h"
#include "conf.h"
#include "testutil.h"

static struct sockaddr_storage v4(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	s->sin_family = AF_INET;
	ck_assert_int_eq(inet_pton(AF_INET, a, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *a)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	s->sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
	return ss;
}

/* An access over peers (NULL-terminated) and next_hop, as the daemon builds it. */
static struct access *make(const char *next_hop, const char **peers)
{
	struct conf c = { 0 };
	struct access *a = NULL;
	size_t n = 0;

	while (peers[n])
		n++;
	c.server.peers.v = (char **)peers;
	c.server.peers.n = n;
	c.server.next_hop = (char *)next_hop;
	ck_assert_int_eq(access_new(&c, &a), 0);
	return a;
}

START_TEST(test_parse)
{
	static const char *good[] = { "192.0.2.0/24", "192.0.2.7", "::1", "[::1]/128", "2001:db8::/32", "0.0.0.0/0",
		"sip:sdproxy@partner.example", "sips:front@home.example;transport=tls", "sdproxy.partner.example",
		"sip:partner.example", NULL };
	static const char *bad[] = { "", "192.0.2.0/33", "::1/129", "192.0.2.0/", "192.0.2.0/x", "host/24",
		"sip:", "sip:@", "bad name", "http://x", "a..b", "-/-", NULL };
	struct access_peer p;
	const char *why;

	for (size_t i = 0; good[i]; i++) {
		ck_assert_msg(access_parse_peer(good[i], &p, &why) == 0, "%s refused: %s", good[i], why ? why : "");
		access_peer_clear(&p);
	}
	for (size_t i = 0; bad[i]; i++) {
		ck_assert_msg(access_parse_peer(bad[i], &p, &why) == -EINVAL, "%s accepted", bad[i]);
		ck_assert_ptr_nonnull(why);
		access_peer_clear(&p);
	}
	ck_assert_int_eq(access_parse_peer("sip:sdproxy@Partner.Example:5061;transport=tls", &p, &why), 0);
	ck_assert_str_eq(p.domain, "Partner.Example");
	access_peer_clear(&p);
}
END_TEST

START_TEST(test_no_peers_is_open)
{
	struct conf c = { 0 };
	struct access *a = (struct access *)1;
	struct sockaddr_storage s = v4("203.0.113.9");

	ck_assert_int_eq(access_new(&c, &a), 0);
	ck_assert_ptr_null(a);
	ck_assert(access_from_peer(NULL, (struct sockaddr *)&s, NULL, 0, NULL));
	ck_assert(access_may_relay_to(NULL, "evil.example"));
}
END_TEST

START_TEST(test_addresses)
{
	const char *peers[] = { "192.0.2.0/25", "10.1.2.3", "2001:db8:1::/48", "198.51.100.0/23", NULL };
	struct access *a = make(NULL, peers);
	struct sockaddr_storage s;

	s = v4("192.0.2.127");
	ck_assert(access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v4("192.0.2.128");
	ck_assert(!access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v4("10.1.2.3");
	ck_assert(access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v4("10.1.2.4");
	ck_assert(!access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v4("198.51.101.255");	/* /23: the second half too */
	ck_assert(access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v4("198.51.102.0");
	ck_assert(!access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v6("2001:db8:1:ffff::1");
	ck_assert(access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v6("2001:db8:2::1");
	ck_assert(!access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v6("::ffff:10.1.2.3");	/* IPv4-mapped: its IPv4 address */
	ck_assert(access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	s = v6("::ffff:10.1.2.4");
	ck_assert(!access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	ck_assert(!access_from_peer(a, NULL, NULL, 0, NULL));
	access_free(a);
}
END_TEST

START_TEST(test_identities)
{
	const char *peers[] = { "192.0.2.1", "sip:sdproxy@partner.example", "front.home.example", NULL };
	struct access *a = make(NULL, peers);
	struct sockaddr_storage s = v4("203.0.113.5");
	const char *ok1[] = { "CN=x", "SIP:SDProxy@Partner.Example" }, *ok2[] = { "front.home.example" };
	const char *no[] = { "sip:sdproxy@partner.example.evil", "sip:sdproxy@partner.exampl", "home.example" };
	const char *which = NULL;

	ck_assert(access_from_peer(a, (struct sockaddr *)&s, ok1, 2, &which));
	ck_assert_str_eq(which, "sip:sdproxy@partner.example");
	ck_assert(access_from_peer(a, (struct sockaddr *)&s, ok2, 1, NULL));
	ck_assert(!access_from_peer(a, (struct sockaddr *)&s, no, 3, NULL));
	ck_assert(!access_from_peer(a, (struct sockaddr *)&s, NULL, 0, NULL));
	access_free(a);
}
END_TEST

START_TEST(test_destinations)
{
	const char *peers[] = { "192.0.2.0/24", "2001:db8::/32", "sip:sdproxy@partner.example", "kms.other.example",
		NULL };
	struct access *a = make("sip:next.home.example:5070;transport=tcp", peers);

	ck_assert(access_may_relay_to(a, "next.home.example"));
	ck_assert(access_may_relay_to(a, "NEXT.home.example"));
	ck_assert(access_may_relay_to(a, "partner.example"));
	ck_assert(access_may_relay_to(a, "kms.other.example"));
	ck_assert(access_may_relay_to(a, "192.0.2.200"));
	ck_assert(access_may_relay_to(a, "[2001:db8::5]"));
	ck_assert(access_may_relay_to(a, "2001:db8::5"));
	ck_assert(!access_may_relay_to(a, "198.51.100.1"));
	ck_assert(!access_may_relay_to(a, "[2001:db9::5]"));
	ck_assert(!access_may_relay_to(a, "evil.example"));
	ck_assert(!access_may_relay_to(a, "partner.example.evil.example"));
	ck_assert(!access_may_relay_to(a, "xpartner.example"));
	ck_assert(!access_may_relay_to(a, ""));
	ck_assert(!access_may_relay_to(a, NULL));
	access_free(a);

	const char *v6peer[] = { "sip:sdproxy@[2001:db8::9]:5061", NULL };
	a = make("sip:[2001:db8::1]:5060", v6peer);
	ck_assert(access_may_relay_to(a, "[2001:db8::1]"));
	ck_assert(access_may_relay_to(a, "[2001:db8::9]"));
	ck_assert(!access_may_relay_to(a, "[2001:db8::2]"));
	access_free(a);
}
END_TEST

static Suite *access_suite(void)
{
	Suite *s = suite_create("access");
	TCase *tc = tcase_create("peers");

	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_no_peers_is_open);
	tcase_add_test(tc, test_addresses);
	tcase_add_test(tc, test_identities);
	tcase_add_test(tc, test_destinations);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return run_suite(access_suite());
}
