/* The batched UDP output of netstack/tunio.c on loopback sockets. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tunio.h"
#include "unit.h"

static void test_one_bad_datagram_spares_the_batch(void **state)
{
	struct kt_loop loop;
	struct kt_device dev;
	static struct kt_tunio io;
	struct kt_endpoint_addr good, bad;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	uint8_t key[KT_SUITE_KEY_LEN], pub[KT_SUITE_MAX_PUB], buf[64];
	int pipefd[2], tx, rx, got = 0;

	(void)state;
	assert_int_equal(kt_loop_init(&loop), 0);
	assert_int_equal(kt_suite_wireguard.keygen(key, pub), 0);
	assert_int_equal(kt_device_init(&dev, &loop, &kt_suite_wireguard, key,
					&kt_tunio_ops, &io), 0);
	rx = kt_udp_open(AF_INET, 0, NULL);
	tx = kt_udp_open(AF_INET, 0, NULL);
	assert_true(rx >= 0 && tx >= 0);
	assert_int_equal(getsockname(rx, (struct sockaddr *)&sa, &sl), 0);
	assert_int_equal(pipe(pipefd), 0);	/* stands in for the TUN */
	assert_int_equal(kt_tunio_init(&io, &dev, &loop, pipefd[0], &tx, 1), 0);

	memset(&good, 0, sizeof(good));
	good.in = sa;
	good.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	memset(&bad, 0, sizeof(bad));
	bad.in6.sin6_family = AF_INET6;	/* wrong family for the socket */
	bad.in6.sin6_port = htons(9);
	memset(buf, 0x5a, sizeof(buf));
	assert_int_equal(kt_tunio_ops.send(&io, &bad, buf, sizeof(buf)), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(kt_tunio_ops.send(&io, &good, buf, sizeof(buf)), 0);
	kt_tunio_flush(&io);
	assert_int_equal(io.udp_errors, 1);
	assert_int_equal(io.tx_datagrams, 5);
	usleep(10000);
	while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) == sizeof(buf))
		got++;
	assert_int_equal(got, 5);

	kt_tunio_uninit(&io);
	close(pipefd[1]);
	close(rx);
	kt_device_uninit(&dev);
	kt_loop_uninit(&loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_bad_datagram_spares_the_batch),
	};
	return cmocka_run_group_tests_name("tunio", tests, NULL, NULL);
}
