/*
 * libFuzzer target for the whole packet path: IPv4 (defragmentation),
 * TCP tracking, stream reassembly, the SMTP dissector and Lua rules that
 * read every field, drop and reset. Each input is one capture of one
 * connection (10.0.0.1:40000 -> 10.0.0.2:25) run through a fresh engine
 * and Lua state, as hakapcap does. The input is a list of records:
 *
 *   0xff LEN_HI LEN_LO BYTES   a raw IPv4 packet (checksums not checked)
 *   0xfe N                     the clock jumps N * 10 s (timeouts)
 *   K SEQ LEN [SPLIT] BYTES    otherwise a TCP segment built here: K bit 0
 *                              direction (1: server to client), bits 1-5
 *                              SYN ACK FIN RST PSH, bit 6: sent as two IP
 *                              fragments split at SPLIT * 8 payload bytes
 *                              (SPLIT bit 7: the second one first); SEQ:
 *                              signed distance from the next expected
 *                              sequence number of that direction (overlap,
 *                              gap); LEN payload bytes follow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <haka/alert.h>
#include <haka/capture.h>
#include <haka/engine.h>
#include <haka/ipv4.h>
#include <haka/log.h>
#include <haka/lvm.h>
#include <haka/packet.h>

static const char rules_text[] =
    "local smtp = require('smtp')\n"
    "local tcp_connection = require('protocol/tcp_connection')\n"
    "smtp.install_tcp_rule(25)\n"
    "haka.rule{ on = tcp_connection.events.new_connection,\n"
    "  eval = function (flow, pkt) flow.n = 0 end }\n"
    "haka.rule{ on = tcp_connection.events.receive_packet,\n"
    "  eval = function (flow, pkt, dir)\n"
    "    flow.n = flow.n + #pkt.payload\n"
    "    local f = pkt.flags\n"
    "    if f.syn and f.fin then pkt:drop() end end }\n"
    "haka.rule{ on = smtp.events.command,\n"
    "  eval = function (flow, cmd)\n"
    "    local p = cmd.parameter or ''\n"
    "    local s = flow.smtp\n"
    "    if s then local _ = s.mail_from, s.helo, #s.rcpt_to end\n"
    "    if p:find('drop', 1, true) then flow:drop() end\n"
    "    if p:find('reset', 1, true) then pcall(flow.reset, flow) end\n"
    "    if p:find('alert', 1, true) then\n"
    "      haka.alert{ description = cmd.command, severity = 'low',\n"
    "        sources = haka.alert.address(flow.srcip) } end end }\n"
    "haka.rule{ on = smtp.events.response,\n"
    "  eval = function (flow, resp)\n"
    "    for _, r in ipairs(resp.responses) do\n"
    "      if r.parameter and r.parameter:find('reset', 1, true) then\n"
    "        pcall(flow.reset, flow) end end end }\n"
    "haka.rule{ on = smtp.events.mail_content,\n"
    "  options = { streamed = true },\n"
    "  eval = function (flow, iter)\n"
    "    for sub in iter:foreach_available() do\n"
    "      if sub:asstring():find('drop', 1, true) then flow:drop() end\n"
    "    end end }\n"
    "haka.rule{ on = smtp.events.anomaly,\n"
    "  eval = function (flow, a) local _ = tostring(a) end }\n"
    "haka.rule{ on = tcp_connection.events.end_connection,\n"
    "  eval = function (flow) local _ = flow.n end }\n";

static char rules_path[64];

static void
remove_rules(void)
{
	unlink(rules_path);
}

static void
on_verdict(void *arg, struct packet *pkt, bool accept)
{
	(void)arg;
	(void)pkt;
	(void)accept;
}

static void
on_inject(void *arg, struct packet *pkt)
{
	(void)arg;
	(void)pkt;
}

/*
 * An Ethernet frame holding the IPv4 packet ip[0, len). Its bytes are
 * lent, as the capture file reader lends libpcap's buffer, from a heap
 * block freed as soon as engine_process returns: AddressSanitizer reports
 * any pointer kept into them past that (packet_own must have copied them).
 */
static void
send_ip(struct engine *e, const uint8_t *ip, size_t len,
        const struct hk_time *now)
{
	static const uint8_t eth[14] = {2, 0, 0, 0, 0, 2,    2,
	                                0, 0, 0, 0, 1, 0x08, 0x00};
	struct packet *pkt = packet_new((uint32_t)(sizeof(eth) + len));
	uint8_t *lent = malloc(sizeof(eth) + len);

	if (pkt == NULL || lent == NULL) {
		packet_unref(pkt);
		free(lent);
		return;
	}
	memcpy(lent, eth, sizeof(eth));
	memcpy(lent + sizeof(eth), ip, len);
	packet_borrow(pkt, lent);
	pkt->caplen = pkt->wirelen = (uint32_t)(sizeof(eth) + len);
	pkt->linktype = 1; /* DLT_EN10MB */
	pkt->ts = *now;
	(void)link_decode(pkt);
	engine_process(e, pkt);
	free(lent);
}

static void
ip_header(uint8_t *ip, size_t total, int dir, uint16_t id, uint16_t frag)
{
	static const uint8_t cli[4] = {10, 0, 0, 1}, srv[4] = {10, 0, 0, 2};

	ip[0] = 0x45;
	ip[1] = 0;
	hk_wr16(ip + 2, (uint16_t)total);
	hk_wr16(ip + 4, id);
	hk_wr16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = 6;
	hk_wr16(ip + 10, 0);
	memcpy(ip + 12, dir ? srv : cli, 4);
	memcpy(ip + 16, dir ? cli : srv, 4);
	hk_wr16(ip + 10, inet_fold(inet_sum(ip, 20, 0)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct engine_output out = {on_verdict, on_inject, NULL};
	struct engine_conf conf;
	struct lvm_conf lconf;
	struct hk_time now = {1000000000, 0};
	uint32_t next[2] = {1000, 5000000};
	uint8_t buf[20 + 20 + 256];
	struct engine *e;
	struct lvm *vm;
	uint16_t id = 1;
	size_t i = 0;

	if (rules_path[0] == '\0') {
		FILE *fp;
		int fd;

		snprintf(rules_path, sizeof(rules_path),
		         "/tmp/fuzz_engine_rules_XXXXXX");
		fd = mkstemp(rules_path);
		if (fd < 0 || (fp = fdopen(fd, "w")) == NULL)
			abort();
		fputs(rules_text, fp);
		fclose(fp);
		atexit(remove_rules);
		/* FUZZ_ENGINE_LOG=debug shows what an input does. */
		log_set_level_spec(getenv("FUZZ_ENGINE_LOG") != NULL
		                       ? getenv("FUZZ_ENGINE_LOG")
		                       : "fatal",
		                   NULL, 0);
	}
	engine_conf_defaults(&conf);
	conf.ipv4_verify_checksum = false;
	conf.tcp_verify_checksum = false;
	memset(&lconf, 0, sizeof(lconf));
	lconf.mem_limit = 64u << 20;
	lconf.instr_limit = 1000000;
	e = engine_new(&conf, &out);
	vm = e != NULL ? lvm_new(&lconf, e) : NULL;
	if (vm == NULL)
		abort();
	engine_set_lvm(e, vm);
	if (lvm_load_rules(vm, rules_path) != HK_OK)
		abort();

	while (i < size) {
		uint8_t k = data[i++];

		now.nsec += 1000000;
		if (now.nsec >= 1000000000) {
			now.sec++;
			now.nsec -= 1000000000;
		}
		if (k == 0xff) {
			size_t n;

			if (size - i < 2)
				break;
			n = (size_t)(data[i] << 8 | data[i + 1]);
			i += 2;
			if (n > size - i)
				n = size - i;
			if (n > 0)
				send_ip(e, data + i, n, &now);
			i += n;
		} else if (k == 0xfe) {
			if (i >= size)
				break;
			now.sec += 10 * (int64_t)data[i++];
			engine_tick(e, &now);
		} else {
			int dir = k & 1, frag = (k >> 6) & 1;
			uint8_t flags = 0, split = 0;
			uint32_t seq;
			size_t n, total;

			if (size - i < 2 + (size_t)frag)
				break;
			seq = next[dir] + (uint32_t)(int32_t)(int8_t)data[i];
			n = data[i + 1];
			i += 2;
			if (frag)
				split = data[i++];
			if (n > size - i)
				n = size - i;
			if (k & 0x02)
				flags |= 0x02; /* SYN */
			if (k & 0x04)
				flags |= 0x10; /* ACK */
			if (k & 0x08)
				flags |= 0x01; /* FIN */
			if (k & 0x10)
				flags |= 0x04; /* RST */
			if (k & 0x20)
				flags |= 0x08; /* PSH */
			total = 40 + n;
			memset(buf, 0, 40);
			hk_wr16(buf + 20, dir ? 25 : 40000);
			hk_wr16(buf + 22, dir ? 40000 : 25);
			hk_wr32(buf + 24, seq);
			hk_wr32(buf + 28, (flags & 0x10) ? next[!dir] : 0);
			buf[32] = 5 << 4;
			buf[33] = flags;
			hk_wr16(buf + 34, 65535);
			memcpy(buf + 40, data + i, n);
			i += n;
			if (seq + (uint32_t)n + !!(flags & 0x03) - next[dir] <
			    0x80000000u)
				next[dir] =
				    seq + (uint32_t)n + !!(flags & 0x03);
			if (!frag || (size_t)(split & 0x7f) * 8 == 0 ||
			    (size_t)(split & 0x7f) * 8 >= total - 20) {
				ip_header(buf, total, dir, id++, 0);
				send_ip(e, buf, total, &now);
			} else {
				/* Fragments of the 20 + n bytes after the IP
				 * header. */
				size_t cut = (size_t)(split & 0x7f) * 8;
				uint8_t f1[20 + 8 * 127], f2[20 + 20 + 256];
				size_t l2 = total - 20 - cut;

				memcpy(f1 + 20, buf + 20, cut);
				ip_header(f1, 20 + cut, dir, id, 0x2000);
				memcpy(f2 + 20, buf + 20 + cut, l2);
				ip_header(f2, 20 + l2, dir, id,
				          (uint16_t)(cut / 8));
				id++;
				if (split & 0x80) {
					send_ip(e, f2, 20 + l2, &now);
					send_ip(e, f1, 20 + cut, &now);
				} else {
					send_ip(e, f1, 20 + cut, &now);
					send_ip(e, f2, 20 + l2, &now);
				}
			}
		}
	}
	engine_finish(e);
	lvm_free(vm);
	engine_free(e);
	return 0;
}
