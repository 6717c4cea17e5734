/* A policy in plain words, for the people who approve it: which segment
 * may reach what, through which hosts and ports, and what stays denied.
 *
 * Whole sentences go through gettext (text domain "kyoten") with their
 * values as arguments, so that a catalogue can reorder them. */
#include "policy.h"

#include <libintl.h>
#include <stdio.h>
#include <string.h>

#define _(s) dgettext("kyoten", s)

static const char *kind_words(enum kt_seg_kind k)
{
	switch (k) {
	case KT_SEG_MYNUMBER: return _("My Number");
	case KT_SEG_LGWAN: return _("LGWAN");
	case KT_SEG_INTERNET: return _("internet");
	case KT_SEG_MANAGEMENT: return _("management");
	default: return "?";
	}
}

static const char *role_words(enum kt_pol_role r)
{
	switch (r) {
	case KT_POL_ROLE_RELAY: return _("sanitisation relay");
	case KT_POL_ROLE_SCREEN_TRANSFER: return _("screen-transfer server");
	case KT_POL_ROLE_FILE_TRANSFER: return _("file-transfer host");
	default: return _("server");
	}
}

static void prefixes(char *buf, size_t cap, const struct kt_prefix *p, size_t n)
{
	char a[KT_PREFIX_STRLEN];

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(buf);

		snprintf(buf + l, cap - l, "%s%s", i ? ", " : "",
			 kt_prefix_str(&p[i], a, sizeof(a)));
	}
}

static void what(char *buf, size_t cap, const struct kt_pol_flow *f)
{
	size_t l;

	switch (f->proto) {
	case KT_POL_PROTO_ICMP:
		snprintf(buf, cap, "%s", _("icmp"));
		return;
	case KT_POL_PROTO_ANY:
		snprintf(buf, cap, "%s", _("every protocol"));
		return;
	default:
		break;
	}
	snprintf(buf, cap, f->n_ports == 1 && f->ports[0].lo == f->ports[0].hi
		 ? _("%s port ") : _("%s ports "), kt_pol_proto_name(f->proto));
	for (size_t i = 0; i < f->n_ports; i++) {
		l = strlen(buf);
		if (f->ports[i].lo == f->ports[i].hi)
			snprintf(buf + l, cap - l, "%s%u", i ? ", " : "",
				 f->ports[i].lo);
		else
			snprintf(buf + l, cap - l, "%s%u-%u", i ? ", " : "",
				 f->ports[i].lo, f->ports[i].hi);
	}
}

/* The destination of a flow, as a phrase. */
static void where(char *buf, size_t cap, const struct kt_policy *p,
		  const struct kt_pol_ep *e)
{
	const struct kt_pol_hosts *h;
	const struct kt_pol_segment *s;

	switch (e->type) {
	case KT_POL_EP_BOX:
		snprintf(buf, cap, "%s", _("the box itself"));
		break;
	case KT_POL_EP_INTERNET_LINE:
		snprintf(buf, cap, "%s", _("the internet, straight out of a "
					   "best-effort line"));
		break;
	case KT_POL_EP_SEGMENT:
		s = &p->segments[e->index];
		snprintf(buf, cap, _("segment %s (%s)"), s->name, kind_words(s->kind));
		break;
	case KT_POL_EP_HOSTS:
		h = &p->hosts[e->index];
		s = &p->segments[h->segment];
		snprintf(buf, cap, _("%s (%s in %s, %s)"), h->name,
			 role_words(h->role), s->name, kind_words(s->kind));
		break;
	}
}

static void flows_from(const struct kt_policy *p, FILE *f, const char *name)
{
	char to[160], how[200];

	for (size_t i = 0; i < p->n_flows; i++) {
		const struct kt_pol_flow *fl = &p->flows[i];

		if (strcmp(fl->from.name, name))
			continue;
		where(to, sizeof(to), p, &fl->to);
		what(how, sizeof(how), fl);
		fprintf(f, fl->log ? _("    - to %s by %s, each connection logged: "
				       "%s (%s:%u)\n")
				   : _("    - to %s by %s: %s (%s:%u)\n"),
			to, how, fl->purpose, p->files[fl->loc.file], fl->loc.line);
	}
}

static bool has_flows_from(const struct kt_policy *p, const char *name)
{
	for (size_t i = 0; i < p->n_flows; i++)
		if (!strcmp(p->flows[i].from.name, name))
			return true;
	return false;
}

static void paths(char *buf, size_t cap, unsigned mask)
{
	if (mask == 1u << KT_LINE_CLOSED)
		snprintf(buf, cap, "%s", _("closed lines only"));
	else if (mask == 1u << KT_LINE_BEST_EFFORT)
		snprintf(buf, cap, "%s", _("best-effort lines only"));
	else
		snprintf(buf, cap, "%s", _("closed and best-effort lines"));
}

void kt_pol_explain(const struct kt_policy *p, FILE *f)
{
	char a[600], b[80];

	if (p->model == KT_POL_MODEL_NONE)
		fprintf(f, _("Policy %s, no model template, %zu flows.\n"),
			p->files[0], p->n_flows);
	else
		fprintf(f, _("Policy %s, model %s (template %s), %zu flows.\n"),
			p->files[0], kt_pol_model_name(p->model), p->files[1],
			p->n_flows);

	fprintf(f, "\n%s\n", _("Segments:"));
	for (size_t i = 0; i < p->n_segments; i++) {
		const struct kt_pol_segment *s = &p->segments[i];
		char ports[KT_POL_MAX_PORTS * (IF_NAMESIZE + 2)] = "";

		for (size_t j = 0; j < s->n_ports; j++)
			snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports),
				 "%s%s", j ? ", " : "", s->ifnames[j]);
		prefixes(a, sizeof(a), s->prefixes, s->n_prefixes);
		paths(b, sizeof(b), s->paths);
		fprintf(f, _("  %s: %s, on %s, addresses %s; %s.\n"), s->name,
			kind_words(s->kind), ports, a, b);
	}
	if (p->n_hosts)
		fprintf(f, "\n%s\n", _("Host groups:"));
	for (size_t i = 0; i < p->n_hosts; i++) {
		const struct kt_pol_hosts *h = &p->hosts[i];

		prefixes(a, sizeof(a), h->addrs, h->n_addrs);
		fprintf(f, _("  %s: %s in %s: %s.\n"), h->name, role_words(h->role),
			p->segments[h->segment].name, a);
	}

	fprintf(f, "\n%s\n", _("What may cross (new connections; replies "
			      "always return):"));
	for (size_t i = 0; i < p->n_segments; i++) {
		const struct kt_pol_segment *s = &p->segments[i];

		if (!has_flows_from(p, s->name))
			fprintf(f, _("  From segment %s (%s): nothing.\n"), s->name,
				kind_words(s->kind));
		else
			fprintf(f, _("  From segment %s (%s):\n"), s->name,
				kind_words(s->kind));
		flows_from(p, f, s->name);
	}
	for (size_t i = 0; i < p->n_hosts; i++) {
		const struct kt_pol_hosts *h = &p->hosts[i];

		if (!has_flows_from(p, h->name))
			continue;
		fprintf(f, _("  From host group %s (in %s), besides its segment's "
			     "flows:\n"), h->name, p->segments[h->segment].name);
		flows_from(p, f, h->name);
	}
	if (has_flows_from(p, KT_POL_EP_BOX_NAME)) {
		fprintf(f, "%s\n", _("  From the box itself:"));
		flows_from(p, f, KT_POL_EP_BOX_NAME);
	}
	for (size_t i = 0; i < p->n_lines; i++) {
		const struct kt_pol_line *l = &p->lines[i];

		a[0] = '\0';
		for (size_t j = 0; j < l->n_tunnel_ports; j++)
			snprintf(a + strlen(a), sizeof(a) - strlen(a), "%s%u",
				 j ? ", " : "", l->tunnel_ports[j]);
		if (l->n_tunnel_ports)
			fprintf(f, _("  From line %s (%s): only the box's tunnels, "
				     "udp %s.\n"), l->name, l->ifname, a);
		else
			fprintf(f, _("  From line %s (%s): nothing.\n"), l->name,
				l->ifname);
	}

	fprintf(f, "\n%s\n", _("Everything else is denied, in every direction, "
			      "and denied packets are counted and logged. These "
			      "rules hold whatever the file says:"));
	for (size_t i = 0; i < KT_INV_COUNT; i++)
		fprintf(f, _("  - %s (%s)\n"), _(kt_pol_invariants[i].rule),
			kt_pol_invariants[i].id);
}
