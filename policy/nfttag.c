/* The comment of table inet kyoten: how kyotend recognises, after a
 * restart, a table it applied itself (docs/policy.md, "Fail closed and
 * adopt"). Written in the user data the way nft writes a table's comment,
 * so that `nft list table inet kyoten` shows it to people as well. */
#include "nft.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

int kt_nft_set_comment(struct nftnl_table *t, const char *comment)
{
	struct nftnl_udata_buf *u;
	size_t len = strlen(comment);

	if (len >= KT_NFT_COMMENT_MAX)
		return -EINVAL;
	u = nftnl_udata_buf_alloc(KT_NFT_COMMENT_MAX + 16);
	if (!u)
		return -ENOMEM;
	if (!nftnl_udata_put_strz(u, NFTNL_UDATA_TABLE_COMMENT, comment)) {
		nftnl_udata_buf_free(u);
		return -ENOMEM;
	}
	nftnl_table_set_data(t, NFTNL_TABLE_USERDATA, nftnl_udata_buf_data(u),
			     nftnl_udata_buf_len(u));
	nftnl_udata_buf_free(u);
	return 0;
}

struct found {
	char *out;
	size_t len;
	bool table;
};

static int comment_cb(const struct nftnl_udata *attr, void *data)
{
	struct found *f = data;
	const char *v = nftnl_udata_get(attr);
	uint32_t l = nftnl_udata_len(attr);

	if (nftnl_udata_type(attr) != NFTNL_UDATA_TABLE_COMMENT || !l ||
	    v[l - 1] != '\0')
		return 0;
	snprintf(f->out, f->len, "%s", v);
	return 0;
}

static int table_cb(const struct nlmsghdr *nlh, void *data)
{
	struct found *f = data;
	struct nftnl_table *t = nftnl_table_alloc();
	const void *ud;
	uint32_t len;

	if (!t)
		return MNL_CB_ERROR;
	if (nftnl_table_nlmsg_parse(nlh, t) == 0) {
		f->table = true;
		ud = nftnl_table_get_data(t, NFTNL_TABLE_USERDATA, &len);
		if (ud && len)
			nftnl_udata_parse(ud, len, comment_cb, f);
	}
	nftnl_table_free(t);
	return MNL_CB_OK;
}

int kt_nft_get_comment(char *out, size_t len, char *err, size_t errlen)
{
	char buf[16384];
	struct found f = { .out = out, .len = len };
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct nftnl_table *t;
	uint32_t seq = (uint32_t)time(NULL), portid;
	ssize_t n;
	int r;

	out[0] = '\0';
	snprintf(err, errlen, "no error");
	t = nftnl_table_alloc();
	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, KT_NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_GETTABLE, NFPROTO_INET,
				    NLM_F_ACK, seq);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		snprintf(err, errlen, "netfilter netlink socket: %s", strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		return r;
	}
	portid = mnl_socket_get_portid(nl);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		r = -errno;
		snprintf(err, errlen, "asking for table inet %s: %s", KT_NFT_TABLE,
			 strerror(errno));
		mnl_socket_close(nl);
		return r;
	}
	r = MNL_CB_OK;
	while (r > MNL_CB_STOP) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			r = -1;
			break;
		}
		r = mnl_cb_run(buf, (size_t)n, seq, portid, table_cb, &f);
	}
	if (r < 0) {
		r = errno ? -errno : -EIO;
		mnl_socket_close(nl);
		if (r == -ENOENT)
			return -ENOENT;
		snprintf(err, errlen, "reading table inet %s: %s", KT_NFT_TABLE,
			 strerror(-r));
		return r;
	}
	mnl_socket_close(nl);
	return f.table ? 0 : -ENOENT;
}

/* Removes table inet kyoten, if it is there: created if absent and
 * deleted in one batch, so that a missing table is not an error. */
int kt_nft_remove_table(char *err, size_t errlen)
{
	char buf[16384];
	struct mnl_nlmsg_batch *b;
	struct mnl_socket *nl;
	struct nftnl_table *t;
	uint32_t seq = (uint32_t)time(NULL), portid;
	ssize_t n;
	int r = 0;

	snprintf(err, errlen, "no error");
	t = nftnl_table_alloc();
	if (!t)
		return -ENOMEM;
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, KT_NFT_TABLE);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	b = mnl_nlmsg_batch_start(buf, sizeof(buf));
	nftnl_batch_begin(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	nftnl_table_nlmsg_build_payload(nftnl_nlmsg_build_hdr(
		mnl_nlmsg_batch_current(b), NFT_MSG_NEWTABLE, NFPROTO_INET,
		NLM_F_CREATE | NLM_F_ACK, seq++), t);
	mnl_nlmsg_batch_next(b);
	nftnl_table_nlmsg_build_payload(nftnl_nlmsg_build_hdr(
		mnl_nlmsg_batch_current(b), NFT_MSG_DELTABLE, NFPROTO_INET,
		NLM_F_ACK, seq++), t);
	mnl_nlmsg_batch_next(b);
	nftnl_batch_end(mnl_nlmsg_batch_current(b), seq++);
	mnl_nlmsg_batch_next(b);
	nftnl_table_free(t);

	nl = mnl_socket_open(NETLINK_NETFILTER);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		r = -errno;
		snprintf(err, errlen, "netfilter netlink socket: %s", strerror(errno));
		if (nl)
			mnl_socket_close(nl);
		mnl_nlmsg_batch_stop(b);
		return r;
	}
	portid = mnl_socket_get_portid(nl);
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(b),
			      mnl_nlmsg_batch_size(b)) < 0) {
		r = -errno;
		snprintf(err, errlen, "removing table inet %s: %s", KT_NFT_TABLE,
			 strerror(errno));
	}
	mnl_nlmsg_batch_stop(b);
	/* Two acknowledgements: the create and the delete. */
	for (int acks = 0; !r && acks < 2; acks++) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0 || mnl_cb_run(buf, (size_t)n, 0, portid, NULL, NULL) < 0) {
			r = errno ? -errno : -EIO;
			snprintf(err, errlen, "removing table inet %s: %s",
				 KT_NFT_TABLE, strerror(-r));
		}
	}
	mnl_socket_close(nl);
	return r;
}
