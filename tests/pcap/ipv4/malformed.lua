-- Packets whose IPv4 (or link) header cannot be read raise their anomaly
-- on ipv4.events.anomaly: their header fields read nil, the capture time
-- and drop() work. The bad-version packet is dropped here.
local ipv4 = require('protocol/ipv4')

haka.rule{
	on = ipv4.events.anomaly,
	eval = function (pkt, name)
		haka.log("ipv4 anomaly %s: src=%s ttl=%s len=%s checksum ok=%s "
			.. "timestamp=%s", name, pkt.src, pkt.ttl, pkt.len,
			pkt:verify_checksum(), type(pkt.timestamp))
		if name == 'ipv4_bad_version' then
			pkt:drop()
		end
	end
}

haka.rule{
	on = ipv4.events.receive_packet,
	eval = function (pkt)
		haka.log("ipv4 %s -> %s proto=%d", pkt.src, pkt.dst, pkt.proto)
	end
}
