-- ipv4-fragment and ipv4-fragment_incomplete of the original: log the
-- size of each ICMP message once its datagram is reassembled. Adapted:
-- there is no icmp dissector, so the rule is on ipv4 (protocol 1) and
-- the size is the IPv4 payload less the 4 bytes that the original's icmp
-- dissector takes as its header (type, code, checksum); the original
-- also inserted 8 bytes into the big messages, so the forwarded capture
-- is not compared.
local ipv4 = require('protocol/ipv4')

haka.rule{
	on = ipv4.events.receive_packet,
	eval = function (pkt)
		if pkt.proto == 1 then
			haka.log("received icmp packet size=%d", #pkt.payload - 4)
		end
	end
}
