-- Prints every IPv4/TCP event the engine raises, with the stream bytes, so
-- that a crafted capture's expected output shows exactly what the rules
-- saw: reassembled bytes per direction, anomalies, connection life.
local ipv4 = require('protocol/ipv4')
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	on = ipv4.events.receive_packet,
	eval = function (pkt)
		haka.log("ipv4 %s -> %s proto=%d len=%d", pkt.src, pkt.dst,
			pkt.proto, pkt.len)
	end
}

haka.rule{
	on = ipv4.events.anomaly,
	eval = function (pkt, name)
		haka.log("ipv4 anomaly %s", name)
	end
}

haka.rule{
	on = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		haka.log("new connection %s:%d -> %s:%d", flow.srcip,
			flow.srcport, flow.dstip, flow.dstport)
	end
}

haka.rule{
	on = tcp_connection.events.receive_data,
	eval = function (flow, data, direction)
		haka.log("data %s %d %q", direction, #data, data:asstring())
	end
}

haka.rule{
	on = tcp_connection.events.anomaly,
	eval = function (flow, name, pkt)
		haka.log("tcp anomaly %s", name)
	end
}

haka.rule{
	on = tcp_connection.events.end_connection,
	eval = function (flow)
		haka.log("end connection %s:%d -> %s:%d state=%s", flow.srcip,
			flow.srcport, flow.dstip, flow.dstport, flow.state)
	end
}
