/*
 * The worker's packet path: IPv4 validation and defragmentation, TCP
 * decoding, connection tracking (states named as the original's
 * tcp_connection), stream reassembly, events into the rules, and the
 * verdicts. Called by the capture loop of haka and hakapcap, one packet at
 * a time; the Lua bindings call back only to request drops and resets.
 */
#include <stdlib.h>
#include <string.h>

#include <haka/capture.h>
#include <haka/dissector.h>
#include <haka/engine.h>
#include <haka/log.h>
#include <haka/tcp.h>

struct engine {
	struct engine_conf conf;
	struct engine_output out;
	struct lvm *vm;
	struct flow_table *flows;
	struct defrag *defrag;
	struct engine_stats stats;
	struct hk_time now;
	struct flow *cur_flow;  /* connection of the packet in progress */
	struct packet *cur_pkt; /* the packet in progress */
	int64_t expired_at;     /* second of the last expiry pass */
	bool finishing;
};

static void engine_anomaly(void *arg, enum anomaly a, struct packet *pkt);
static void flow_end(struct engine *e, struct flow *f);
static void flow_detach(struct flow *f);

void
engine_conf_defaults(struct engine_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->pass_through = false;
	c->ipv4_verify_checksum = true;
	c->tcp_verify_checksum = true;
	c->drop_bad_checksum = false;
	c->midstream = MIDSTREAM_ACCEPT;
	c->rule_error = RULE_ERROR_DROP;
	c->tcp_timeout_est = 3600;
	c->tcp_timeout_closing = 60;
	c->tcp_timeout_syn = 60;
	c->max_flows = 1000000;
	c->stream.max_ooo_bytes = 1 << 20;
	c->stream.max_ooo_segs = 4096;
	c->stream.memcap = 256ULL << 20;
	c->defrag.memcap = 32ULL << 20;
	c->defrag.timeout_sec = 60;
	c->defrag.max_frags = 256;
	c->defrag.max_trackers = 65536;
}

static void
engine_release(struct packet *pkt, void *arg)
{
	struct engine *e = arg;
	bool accept;

	if (pkt->flags & PKT_F_FORGED)
		return;
	accept = pkt->verdict != PKT_DROP;
	if (accept) {
		e->stats.accepted++;
	} else if (e->conf.pass_through) {
		e->stats.would_drop++;
		accept = true;
	} else {
		e->stats.dropped++;
		if (LOG_DEBUG_ENABLED("packet"))
			hk_log(LOG_DEBUG, "packet", "dropping packet id=%llu",
			       (unsigned long long)pkt->id);
	}
	if (e->out.verdict != NULL)
		e->out.verdict(e->out.arg, pkt, accept);
}

struct engine *
engine_new(const struct engine_conf *conf, const struct engine_output *out)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->conf = *conf;
	if (out != NULL)
		e->out = *out;
	e->flows = flow_table_new(conf->max_flows);
	e->defrag = defrag_new(&conf->defrag, engine_anomaly, e);
	if (e->flows == NULL || e->defrag == NULL) {
		engine_free(e);
		return NULL;
	}
	stream_set_limits(&conf->stream);
	packet_set_release_hook(engine_release, e);
	return e;
}

void
engine_set_lvm(struct engine *e, struct lvm *vm)
{
	e->vm = vm;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	if (e->defrag != NULL)
		defrag_free(e->defrag);
	flow_table_free(e->flows);
	free(e);
}

const struct engine_stats *
engine_stats(const struct engine *e)
{
	return &e->stats;
}

uint32_t
engine_flow_count(const struct engine *e)
{
	return flow_count(e->flows);
}

bool
engine_pass_through(const struct engine *e)
{
	return e->conf.pass_through;
}

const struct hk_time *
engine_now(const struct engine *e)
{
	return &e->now;
}

static const char *
flow_str(const struct flow *f, char *buf, size_t len)
{
	char a[16], b[16];

	snprintf(buf, len, "%s:%u -> %s:%u", ipv4_addr_str(f->cli_ip, a),
	         f->cli_port, ipv4_addr_str(f->srv_ip, b), f->srv_port);
	return buf;
}

static void
conn_log(const struct flow *f, const char *what)
{
	char buf[64];

	if (LOG_DEBUG_ENABLED("conn"))
		hk_log(LOG_DEBUG, "conn", "%s connection %s", what,
		       flow_str(f, buf, sizeof(buf)));
}

static void rule_failed(struct engine *e, struct packet *pkt);

/*
 * Anomalies are counted, then raised to the rules of the layer they
 * belong to.
 */
static void
engine_anomaly(void *arg, enum anomaly a, struct packet *pkt)
{
	struct engine *e = arg;
	struct flow *f = e->cur_flow;

	anomaly_count(a);
	if (LOG_DEBUG_ENABLED("anomaly"))
		hk_log(LOG_DEBUG, "anomaly", "%s (packet id=%llu)",
		       anomaly_name(a),
		       pkt != NULL ? (unsigned long long)pkt->id : 0ULL);
	if (e->vm == NULL)
		return;
	if (f != NULL && a >= ANOM_TCP_TRUNCATED) {
		if (lvm_has_rules(e->vm, EV_TCPC_ANOMALY) &&
		    lvm_event_anomaly(e->vm, EV_TCPC_ANOMALY, f, pkt, a) !=
		        HK_OK)
			rule_failed(e, pkt);
	} else if (lvm_has_rules(e->vm, EV_IPV4_ANOMALY) && pkt != NULL) {
		/* A malformed packet too: its fields then read nil. */
		if (lvm_event_anomaly(e->vm, EV_IPV4_ANOMALY, NULL, pkt, a) !=
		    HK_OK)
			rule_failed(e, pkt);
	}
}

static void
rule_failed(struct engine *e, struct packet *pkt)
{
	e->stats.rule_errors++;
	if (e->conf.rule_error == RULE_ERROR_DROP && pkt != NULL)
		packet_drop(pkt);
}

void
engine_rule_failed(struct engine *e)
{
	rule_failed(e, e->cur_pkt);
}

/* --- connections ------------------------------------------------------ */

void
engine_flow_drop(struct engine *e, struct flow *f)
{
	(void)e;
	f->flags |= FLOW_F_DROPPED;
}

int
engine_flow_reset(struct engine *e, struct flow *f, bool half)
{
	(void)e;
	if (f->state < TCP_ST_ESTABLISHED)
		return HK_ERR;
	/* A full reset asked for after a half one (same rule pass) wins. */
	if (!half)
		f->flags &= (uint16_t)~FLOW_F_HALFRESET;
	else if (!(f->flags & FLOW_F_RESET))
		f->flags |= FLOW_F_HALFRESET;
	f->flags |= FLOW_F_RESET | FLOW_F_DROPPED;
	return HK_OK;
}

static void
send_rst(struct engine *e, struct flow *f, int dir)
{
	/*
	 * A RST that travels in direction dir, with the sequence number of
	 * the first byte not forwarded: what the receiver expects next.
	 */
	struct stream *st = &f->dir[dir];
	uint32_t seq = st->init ? stream_off_seq(st, st->consumed) : 0;
	uint32_t src = dir == FLOW_UP ? f->cli_ip : f->srv_ip;
	uint32_t dst = dir == FLOW_UP ? f->srv_ip : f->cli_ip;
	uint16_t sp = dir == FLOW_UP ? f->cli_port : f->srv_port;
	uint16_t dp = dir == FLOW_UP ? f->srv_port : f->cli_port;
	uint8_t lhdr[FLOW_LHDR_MAX];
	uint32_t llen = f->lhdr_len[dir];
	struct packet *rst;

	if (llen > 0) {
		memcpy(lhdr, f->lhdr[dir], llen);
	} else {
		llen = f->lhdr_len[!dir];
		memcpy(lhdr, f->lhdr[!dir], llen);
		if (f->linktype == 1 && llen >= 12) {
			/* Ethernet: the other direction's MACs, swapped. */
			uint8_t mac[6];

			memcpy(mac, lhdr, 6);
			memcpy(lhdr, lhdr + 6, 6);
			memcpy(lhdr + 6, mac, 6);
		}
	}
	rst = tcp_forge_rst(src, dst, sp, dp, seq, lhdr, llen, f->linktype,
	                    &e->now);
	if (rst == NULL)
		return;
	e->stats.forged++;
	if (!e->conf.pass_through && e->out.inject != NULL)
		e->out.inject(e->out.arg, rst);
	packet_unref(rst);
}

/*
 * Apply a drop (and reset) requested by a rule: the packet in progress and
 * every held packet of the connection are dropped, the end event fires,
 * and every later packet of the connection is dropped silently.
 */
static void
flow_apply_drop(struct engine *e, struct flow *f, struct packet *pkt)
{
	if (!(f->flags & FLOW_F_DROPPED) || (f->flags & FLOW_F_DROP_DONE))
		return;
	f->flags |= FLOW_F_DROP_DONE;
	if (pkt != NULL)
		packet_drop(pkt);
	stream_drop_held(&f->dir[0]);
	stream_drop_held(&f->dir[1]);
	conn_log(f, "dropping");
	e->stats.flows_dropped++;
	if (f->flags & FLOW_F_RESET) {
		e->stats.flows_reset++;
		if (!(f->flags & FLOW_F_HALFRESET))
			send_rst(e, f, FLOW_DOWN);
		send_rst(e, f, FLOW_UP);
	}
	f->state = TCP_ST_RESET;
	flow_end(e, f);
	flow_touch(e->flows, f, FLOW_LIST_CLOSING, &e->now);
}

/*
 * Give the in-order bytes of one direction to the rules, then consume
 * what no rule still needs.
 */
int
engine_flow_attach(struct engine *e, struct flow *f,
                   const struct app_dissector *ops, void *inst)
{
	(void)e;
	if (f->app_ops != NULL)
		return HK_ERR;
	f->app_ops = ops;
	f->app = inst;
	return HK_OK;
}

static void
flow_detach(struct flow *f)
{
	if (f->app_ops != NULL && f->app_ops->free != NULL)
		f->app_ops->free(f->app);
	f->app_ops = NULL;
	f->app = NULL;
}

/*
 * Give the in-order bytes of one direction to the TCP data rules and to
 * the application dissector, then consume what none of them still needs.
 * One call per run of bytes: gaps are reported between runs.
 */
static void
flow_deliver(struct engine *e, struct flow *f, int dir, bool finished)
{
	struct stream *st = &f->dir[dir];
	bool rules = lvm_has_rules(e->vm, EV_TCPC_RECEIVE_DATA);
	uint64_t end, keep, k, rules_keep, app_keep, hole;
	int guard;

	if (!st->init)
		return;
	if ((f->flags & FLOW_F_DROPPED) != 0 ||
	    (!rules && f->app_ops == NULL)) {
		stream_consume(st, st->next);
		return;
	}
	for (guard = 0; guard < 1024; guard++) {
		if (st->head != NULL && st->head->p == NULL &&
		    st->head->off <= st->consumed) {
			uint64_t goff = st->head->off, glen = st->head->len;

			if (f->app_ops != NULL && f->app_ops->gap != NULL)
				f->app_ops->gap(f->app, f, dir, goff, glen);
			stream_consume(st, goff + glen);
			continue;
		}
		end = stream_contig_end(st, st->consumed);
		if (end == st->consumed && !finished)
			break;
		keep = rules_keep = end;
		if (rules) {
			if (lvm_event_data(e->vm, f, dir, end,
			                   finished && end == st->next,
			                   &k) != HK_OK)
				rule_failed(e, NULL);
			/* Dropped: the bytes stay held, dropped with them. */
			if (f->flags & FLOW_F_DROPPED)
				return;
			rules_keep = k;
			if (k < keep)
				keep = k;
		}
		app_keep = end;
		if (f->app_ops != NULL) {
			if (f->app_ops->receive(f->app, f, dir, end,
			                        finished && end == st->next,
			                        &k) != HK_OK)
				flow_detach(f);
			if (f->flags & FLOW_F_DROPPED)
				return;
			app_keep = k;
		}
		if (app_keep < keep)
			keep = app_keep;
		stream_consume(st, keep);
		if (keep < end && rules_keep == end && f->app_ops != NULL &&
		    (hole = stream_skip_gap(st, end)) > end) {
			/*
			 * The dissector keeps the start of an element whose
			 * rest a hole swallowed: it can never complete. Those
			 * bytes are lost with the hole, reported from them on,
			 * and the parse starts again after it.
			 */
			if (f->app_ops->gap != NULL)
				f->app_ops->gap(f->app, f, dir, keep,
				                hole - keep);
			stream_consume(st, hole);
			continue;
		}
		if (keep < end || st->consumed >= st->next)
			break;
	}
	/* Release the packets whose bytes were all inspected already. */
	stream_consume(st, st->consumed);
}

/* Flush queued segments across their holes, at the end of a connection. */
static void
flow_flush(struct engine *e, struct flow *f, int dir)
{
	struct stream *st = &f->dir[dir];

	while (st->ooo != NULL) {
		e->cur_flow = f;
		engine_anomaly(e, ANOM_TCP_GAP, NULL);
		stream_gap(st, 0);
	}
}

/*
 * The end of a connection (FIN handshake, reset, drop, timeout, end of
 * capture): the last bytes are delivered, end_connection fires, the held
 * packets are released.
 */
static void
flow_end(struct engine *e, struct flow *f)
{
	int d;

	if (f->flags & FLOW_F_ENDED)
		return;
	f->flags |= FLOW_F_ENDED;
	if (!(f->flags & FLOW_F_DROPPED)) {
		/* The server's direction ends first, as in the original. */
		for (d = 1; d >= 0; d--) {
			flow_flush(e, f, d);
			flow_deliver(e, f, d, true);
		}
	}
	if (f->app_ops != NULL && f->app_ops->end != NULL)
		f->app_ops->end(f->app, f);
	/* The rules still read what the dissector knows (flow.smtp). */
	if ((f->flags & FLOW_F_NEW_FIRED) &&
	    lvm_has_rules(e->vm, EV_TCPC_END_CONNECTION)) {
		if (lvm_event_flow(e->vm, EV_TCPC_END_CONNECTION, f, NULL,
		                   FLOW_UP) != HK_OK)
			rule_failed(e, NULL);
	}
	/* Nothing more to parse: the dissector's memory goes now, not when
	 * the entry leaves the table after its timed wait; the Lua proxy
	 * lives on only while a rule refers to it. */
	flow_detach(f);
	if (e->vm != NULL)
		lvm_flow_ended(e->vm, f);
	for (d = 0; d < 2; d++)
		stream_release_all(&f->dir[d],
		                   (f->flags & FLOW_F_DROPPED) != 0);
}

static void
flow_remove(struct engine *e, struct flow *f)
{
	flow_end(e, f);
	conn_log(f, "closing");
	flow_detach(f);
	if (e->vm != NULL)
		lvm_flow_free(e->vm, f);
	if (e->cur_flow == f)
		e->cur_flow = NULL;
	flow_destroy(e->flows, f);
}

static void
expire(struct engine *e)
{
	struct hk_time before;
	struct flow *f;

	before = e->now;
	before.sec -= e->conf.tcp_timeout_closing;
	while ((f = flow_expired(e->flows, FLOW_LIST_CLOSING, &before)) != NULL)
		flow_remove(e, f);
	before = e->now;
	before.sec -= e->conf.tcp_timeout_est;
	while ((f = flow_expired(e->flows, FLOW_LIST_ACTIVE, &before)) != NULL)
		flow_remove(e, f);
	before = e->now;
	before.sec -= e->conf.tcp_timeout_syn;
	while ((f = flow_expired(e->flows, FLOW_LIST_OPENING, &before)) != NULL)
		flow_remove(e, f);
	defrag_expire(e->defrag, &e->now);
}

void
engine_tick(struct engine *e, const struct hk_time *now)
{
	if (hk_time_ns(now) > hk_time_ns(&e->now))
		e->now = *now;
	expire(e);
}

static enum flow_list
flow_list_of(const struct flow *f)
{
	if (f->state >= TCP_ST_TIMED_WAIT)
		return FLOW_LIST_CLOSING;
	if (f->state < TCP_ST_ESTABLISHED)
		return FLOW_LIST_OPENING;
	return FLOW_LIST_ACTIVE;
}

/* Flag combinations no TCP stack sends (scans, evasion attempts). */
static bool
tcp_flags_invalid(uint8_t fl)
{
	if ((fl & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN) ||
	    (fl & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST))
		return true;
	if ((fl & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK)) == 0)
		return true; /* no flag: a NULL scan */
	if ((fl & TCP_FIN) && !(fl & TCP_ACK))
		return true; /* FIN, Xmas scans */
	return false;
}

static void
save_lhdr(struct flow *f, int dir, const struct packet *pkt)
{
	if (f->lhdr_len[dir] != 0 || pkt->l3_off > FLOW_LHDR_MAX ||
	    (pkt->flags & PKT_F_REASSEMBLED))
		return;
	memcpy(f->lhdr[dir], pkt->data, pkt->l3_off);
	f->lhdr_len[dir] = (uint8_t)pkt->l3_off;
	f->linktype = pkt->linktype;
}

static struct flow *
flow_open(struct engine *e, struct packet *pkt, uint32_t cli, uint32_t srv,
          uint16_t cport, uint16_t sport)
{
	struct flow *f;

	f = flow_create(e->flows, cli, srv, cport, sport, &e->now);
	if (f == NULL) {
		engine_anomaly(e, ANOM_TCP_TABLE_FULL, pkt);
		return NULL;
	}
	e->stats.flows++;
	flow_touch(e->flows, f, FLOW_LIST_OPENING, &e->now);
	conn_log(f, "opening");
	return f;
}

/* Fire new_connection; a drop there drops the whole connection. */
static void
flow_announce(struct engine *e, struct flow *f, struct packet *pkt)
{
	f->flags |= FLOW_F_NEW_FIRED;
	if (!lvm_has_rules(e->vm, EV_TCPC_NEW_CONNECTION)) {
		if (e->vm != NULL)
			lvm_flow_opened(e->vm, f);
		return;
	}
	if (lvm_event_flow(e->vm, EV_TCPC_NEW_CONNECTION, f, pkt, FLOW_UP) !=
	    HK_OK)
		rule_failed(e, pkt);
	if (pkt->verdict == PKT_DROP)
		f->flags |= FLOW_F_DROPPED;
	else if (e->vm != NULL)
		lvm_flow_opened(e->vm, f);
}

static void
ack_gap(struct engine *e, struct flow *f, int dir, struct packet *pkt)
{
	/* The peer acknowledges bytes we never saw: they are lost to us. */
	struct stream *st = &f->dir[!dir];
	int64_t ack_off;

	if (!st->init || !(tcp_flags(pkt) & TCP_ACK))
		return;
	ack_off = stream_seq_off(st, tcp_ack(pkt));
	if (st->fin && (uint64_t)ack_off > st->fin_off)
		ack_off = (int64_t)st->fin_off;
	if (ack_off <= (int64_t)st->next || st->ooo == NULL)
		return;
	engine_anomaly(e, ANOM_TCP_GAP, pkt);
	stream_gap(st, (uint64_t)ack_off);
	flow_deliver(e, f, !dir, false);
}

/*
 * tcp_connection.events.receive_packet for every packet of a tracked
 * connection, its opening SYN included (callers check that rules wait for
 * it). False when a rule dropped the connection (the packet's verdict is
 * then given).
 */
static bool
receive_packet(struct engine *e, struct flow *f, struct packet *pkt, int dir)
{
	if (lvm_event_flow(e->vm, EV_TCPC_RECEIVE_PACKET, f, pkt, dir) != HK_OK)
		rule_failed(e, pkt);
	if (f->flags & FLOW_F_DROPPED) {
		flow_apply_drop(e, f, pkt);
		return false;
	}
	return true;
}

static void
tcp_session(struct engine *e, struct packet *pkt)
{
	uint32_t src = ipv4_src(pkt), dst = ipv4_dst(pkt);
	uint16_t sport = tcp_sport(pkt), dport = tcp_dport(pkt);
	uint8_t fl = tcp_flags(pkt);
	uint32_t seq = tcp_seq(pkt);
	enum flow_dir dir = FLOW_UP;
	struct flow *f;
	struct stream *st;
	struct stream_insert_res res;
	bool syn_only = (fl & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN;

	f = flow_lookup(e->flows, src, dst, sport, dport, &dir);
	if (f != NULL && syn_only &&
	    (f->state >= TCP_ST_TIMED_WAIT || (f->flags & FLOW_F_DROPPED)) &&
	    !(dir == FLOW_UP && f->state == TCP_ST_SYN_SENT)) {
		/* A new SYN on the tuple of a closed connection: a new one. */
		flow_remove(e, f);
		f = NULL;
	}
	if (f == NULL) {
		if (syn_only) {
			f = flow_open(e, pkt, src, dst, sport, dport);
			if (f == NULL)
				return;
			f->state = TCP_ST_SYN_SENT;
			f->isn[FLOW_UP] = seq;
			stream_init(&f->dir[FLOW_UP], seq + 1);
			e->cur_flow = f;
			save_lhdr(f, FLOW_UP, pkt);
			f->pkts[0]++;
			flow_announce(e, f, pkt);
			if (f->flags & FLOW_F_DROPPED) {
				flow_apply_drop(e, f, pkt);
				return;
			}
			if (lvm_has_rules(e->vm, EV_TCPC_RECEIVE_PACKET) &&
			    !receive_packet(e, f, pkt, FLOW_UP))
				return;
			if (pkt->pl_len > 0)
				engine_anomaly(e, ANOM_TCP_DATA_ON_SYN, pkt);
			seq++; /* the SYN takes one sequence number */
			goto data;
		}
		if (fl & TCP_RST) {
			e->stats.tcp_untracked++;
			return;
		}
		if (e->conf.midstream != MIDSTREAM_ACCEPT) {
			engine_anomaly(e, ANOM_TCP_NO_HANDSHAKE, pkt);
			e->stats.tcp_untracked++;
			if (e->conf.midstream == MIDSTREAM_DROP)
				packet_drop(pkt);
			return;
		}
		/* Pick up: the SYN-ACK sender or the lower port is the server.
		 */
		if ((fl & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) ||
		    sport < dport) {
			f = flow_open(e, pkt, dst, src, dport, sport);
			dir = FLOW_DOWN;
		} else {
			f = flow_open(e, pkt, src, dst, sport, dport);
			dir = FLOW_UP;
		}
		if (f == NULL)
			return;
		e->stats.midstream++;
		f->flags |= FLOW_F_MIDSTREAM;
		f->state = TCP_ST_ESTABLISHED;
		e->cur_flow = f;
		engine_anomaly(e, ANOM_TCP_NO_HANDSHAKE, pkt);
		flow_announce(e, f, pkt);
	}
	e->cur_flow = f;
	if (f->flags & FLOW_F_DROPPED) {
		flow_apply_drop(e, f, pkt);
		packet_drop(pkt);
		return;
	}
	if (f->state == TCP_ST_RESET && !(fl & TCP_RST)) {
		/*
		 * The connection ended with a RST: later packets are not
		 * inspected, so they are not forwarded either (a forged RST
		 * must not blind the engine).
		 */
		packet_drop(pkt);
		return;
	}
	f->pkts[dir]++;
	f->bytes[dir] += pkt->pl_len;
	save_lhdr(f, dir, pkt);
	flow_touch(e->flows, f, flow_list_of(f), &e->now);

	if (lvm_has_rules(e->vm, EV_TCPC_RECEIVE_PACKET) &&
	    !receive_packet(e, f, pkt, dir))
		return;

	if (fl & TCP_RST) {
		if (f->state < TCP_ST_RESET) {
			f->state = TCP_ST_RESET;
			flow_end(e, f);
			flow_touch(e->flows, f, FLOW_LIST_CLOSING, &e->now);
		}
		return;
	}
	if (fl & TCP_SYN) {
		if (dir == FLOW_DOWN && (fl & TCP_ACK) &&
		    f->state <= TCP_ST_SYN_RECEIVED) {
			if (!f->dir[FLOW_DOWN].init) {
				f->isn[FLOW_DOWN] = seq;
				stream_init(&f->dir[FLOW_DOWN], seq + 1);
			}
			f->state = TCP_ST_SYN_RECEIVED;
		} else if (f->state >= TCP_ST_ESTABLISHED &&
		           !(f->flags & FLOW_F_MIDSTREAM)) {
			engine_anomaly(e, ANOM_TCP_UNEXPECTED_PACKET, pkt);
		}
		seq++; /* the SYN takes one sequence number */
	} else if (f->state == TCP_ST_SYN_RECEIVED && dir == FLOW_UP &&
	           (fl & TCP_ACK)) {
		f->state = TCP_ST_ESTABLISHED;
	} else if (f->state == TCP_ST_SYN_SENT) {
		/* Data or ACK before the SYN-ACK was seen. */
		engine_anomaly(e, ANOM_TCP_INVALID_HANDSHAKE, pkt);
		f->state = TCP_ST_ESTABLISHED;
	}

	if (f->flags & FLOW_F_ENDED) {
		/*
		 * Closed (timed wait): the dissector is gone and the streams
		 * were released, so nothing can inspect new bytes, and
		 * nothing would ever release a packet held for them. ACKs,
		 * FIN retransmissions and copies of bytes already inspected
		 * pass; new bytes are dropped (the original's "unexpected
		 * tcp packet" policy drops them too).
		 */
		st = &f->dir[dir];
		if (pkt->pl_len > 0 &&
		    (!st->init ||
		     stream_seq_off(st, seq) + (int64_t)pkt->pl_len >
		         (int64_t)st->next)) {
			engine_anomaly(e, ANOM_TCP_DATA_AFTER_FIN, pkt);
			packet_drop(pkt);
		} else if (pkt->pl_len > 0) {
			anomaly_count(ANOM_TCP_RETRANSMISSION);
		}
		return;
	}
data:
	st = &f->dir[dir];
	if (!st->init)
		stream_init(st, seq);
	if (st->fin && pkt->pl_len > 0 &&
	    stream_seq_off(st, seq) + (int64_t)pkt->pl_len >
	        (int64_t)st->fin_off)
		engine_anomaly(e, ANOM_TCP_DATA_AFTER_FIN, pkt);
	if (f->app_ops == NULL && !lvm_has_rules(e->vm, EV_TCPC_RECEIVE_DATA) &&
	    stream_pass(st, seq, pkt->pl_len)) {
		/* Nothing reads these bytes: the packet goes at once. */
		memset(&res, 0, sizeof(res));
	} else if (stream_insert(st, pkt, seq, &res) != HK_OK &&
	           res.memcap_flow && st->ooo != NULL) {
		/*
		 * The queue of this direction is full behind a hole: the hole
		 * becomes a gap and the stream goes on.
		 */
		engine_anomaly(e, ANOM_TCP_MEMCAP_FLOW, pkt);
		engine_anomaly(e, ANOM_TCP_GAP, pkt);
		stream_gap(st, 0);
		flow_deliver(e, f, dir, false);
		if (f->flags & FLOW_F_DROPPED) {
			flow_apply_drop(e, f, pkt);
			return;
		}
		stream_insert(st, pkt, seq, &res);
	}
	if (res.memcap_flow || res.memcap_global) {
		/* Refused: dropped, so that the sender retransmits it. */
		engine_anomaly(e,
		               res.memcap_global ? ANOM_TCP_MEMCAP_GLOBAL
		                                 : ANOM_TCP_MEMCAP_FLOW,
		               pkt);
		packet_drop(pkt);
	} else {
		if (res.diff_bytes > 0) {
			engine_anomaly(e, ANOM_TCP_OVERLAP_DIFF, pkt);
			/*
			 * Inspected bytes are the truth: the other copy is not
			 * forwarded.
			 */
			packet_drop(pkt);
		} else if (res.old_bytes > 0) {
			anomaly_count(res.new_bytes > 0
			                  ? ANOM_TCP_OVERLAP
			                  : ANOM_TCP_RETRANSMISSION);
		}
	}
	if (fl & TCP_FIN) {
		if (!st->fin) {
			st->fin = true;
			st->fin_off =
			    (uint64_t)stream_seq_off(st, seq) + pkt->pl_len;
		}
		if (f->state == TCP_ST_ESTABLISHED ||
		    f->state == TCP_ST_SYN_RECEIVED)
			f->state = TCP_ST_FIN_WAIT_1;
		else if (f->state == TCP_ST_FIN_WAIT_1 ||
		         f->state == TCP_ST_FIN_WAIT_2)
			f->state = TCP_ST_CLOSING;
	}
	ack_gap(e, f, dir, pkt);
	flow_deliver(e, f, dir, false);
	if (f->flags & FLOW_F_DROPPED) {
		flow_apply_drop(e, f, pkt);
		return;
	}
	if (f->state == TCP_ST_CLOSING || f->state == TCP_ST_FIN_WAIT_1 ||
	    f->state == TCP_ST_FIN_WAIT_2) {
		/* Closed once both FINs are acknowledged. */
		struct stream *o = &f->dir[!dir];

		if (o->fin && (fl & TCP_ACK) &&
		    stream_seq_off(o, tcp_ack(pkt)) > (int64_t)o->fin_off) {
			if (f->dir[dir].fin) {
				f->state = TCP_ST_TIMED_WAIT;
				flow_end(e, f);
				flow_touch(e->flows, f, FLOW_LIST_CLOSING,
				           &e->now);
			} else if (f->state == TCP_ST_FIN_WAIT_1) {
				f->state = TCP_ST_FIN_WAIT_2;
			}
		}
	}
}

/* --- the packet path ------------------------------------------------- */

void
engine_process(struct engine *e, struct packet *pkt)
{
	enum anomaly anom;
	bool bad = false;

	if (hk_time_ns(&pkt->ts) > hk_time_ns(&e->now))
		e->now = pkt->ts;
	e->stats.packets++;
	e->stats.bytes += pkt->caplen;
	e->cur_flow = NULL;
	/* Timeouts are in seconds: one expiry pass per second of time. */
	if (e->now.sec != e->expired_at) {
		e->expired_at = e->now.sec;
		expire(e);
	}

	if (pkt->ethertype == 0)
		engine_anomaly(e,
		               link_supported((int)pkt->linktype)
		                   ? ANOM_LINK_TRUNCATED
		                   : ANOM_LINK_UNSUPPORTED,
		               pkt);
	if (pkt->ethertype != 0x0800) {
		e->stats.non_ipv4++;
		if (pkt->ethertype == 0x86dd)
			e->stats.ipv6++;
		goto out;
	}
	if (ipv4_decode(pkt, e->conf.ipv4_verify_checksum, &anom, &bad) !=
	    HK_OK) {
		/* Not inspectable: counted, forwarded untouched. */
		engine_anomaly(e, anom, pkt);
		e->stats.non_ipv4++;
		goto out;
	}
	e->stats.ipv4++;
	if (bad) {
		engine_anomaly(e, ANOM_IPV4_BAD_CHECKSUM, pkt);
		if (e->conf.drop_bad_checksum) {
			packet_drop(pkt);
			goto out;
		}
	}
	if (ipv4_is_fragment(pkt)) {
		struct packet *whole = NULL;
		int rc;

		e->stats.fragments++;
		rc = defrag_insert(e->defrag, pkt, &e->now, &whole);
		if (rc == HK_ERR)
			packet_drop(pkt);
		if (rc != HK_OK)
			goto out;
		e->stats.reassembled++;
		packet_unref(pkt);
		pkt = whole;
	}
	if (lvm_has_rules(e->vm, EV_IPV4_RECEIVE_PACKET)) {
		if (lvm_event_packet(e->vm, EV_IPV4_RECEIVE_PACKET, pkt) !=
		    HK_OK)
			rule_failed(e, pkt);
		if (pkt->verdict == PKT_DROP)
			goto out;
	}
	if (ipv4_proto(pkt) != IPV4_PROTO_TCP) {
		e->stats.non_tcp++;
		goto out;
	}
	bad = false;
	if (tcp_decode(pkt,
	               e->conf.tcp_verify_checksum &&
	                   !(pkt->flags & PKT_F_REASSEMBLED) &&
	                   pkt->caplen >= pkt->wirelen,
	               &anom, &bad) != HK_OK) {
		engine_anomaly(e, anom, pkt);
		goto out;
	}
	e->stats.tcp++;
	if (bad) {
		engine_anomaly(e, ANOM_TCP_BAD_CHECKSUM, pkt);
		if (e->conf.drop_bad_checksum) {
			packet_drop(pkt);
			goto out;
		}
	}
	if (tcp_flags_invalid(tcp_flags(pkt)))
		engine_anomaly(e, ANOM_TCP_BAD_FLAGS, pkt);
	if (lvm_has_rules(e->vm, EV_TCP_RECEIVE_PACKET)) {
		if (lvm_event_packet(e->vm, EV_TCP_RECEIVE_PACKET, pkt) !=
		    HK_OK)
			rule_failed(e, pkt);
		if (pkt->verdict == PKT_DROP)
			goto out;
	}
	e->cur_pkt = pkt;
	tcp_session(e, pkt);
	e->cur_pkt = NULL;
out:
	e->cur_flow = NULL;
	/* Borrowed bytes go back to the capture when this returns. */
	if (pkt->refcnt > 1)
		packet_own(pkt);
	packet_unref(pkt);
}

void
engine_finish(struct engine *e)
{
	struct flow *f;

	e->finishing = true;
	while ((f = flow_any(e->flows)) != NULL)
		flow_remove(e, f);
	defrag_free(e->defrag);
	e->defrag = defrag_new(&e->conf.defrag, engine_anomaly, e);
}

static void
shutdown_drop(struct flow *f, void *arg)
{
	(void)arg;
	stream_drop_held(&f->dir[0]);
	stream_drop_held(&f->dir[1]);
	f->flags |= FLOW_F_DROPPED | FLOW_F_DROP_DONE;
}

void
engine_shutdown(struct engine *e, bool drop)
{
	if (drop)
		flow_foreach(e->flows, shutdown_drop, NULL);
	engine_finish(e);
}

struct migrate {
	struct lvm *old, *vm;
};

static void
migrate_flow(struct flow *f, void *arg)
{
	struct migrate *m = arg;

	if (m->old != NULL)
		lvm_flow_free(m->old, f);
	if (m->vm != NULL)
		lvm_flow_adopt(m->vm, f);
}

void
engine_replace_lvm(struct engine *e, struct lvm *vm)
{
	struct migrate m = {e->vm, vm};

	flow_foreach(e->flows, migrate_flow, &m);
	e->vm = vm;
}
