-- tcp_connection.events.receive_packet fires for every packet of a tracked
-- connection, the opening SYN included (after new_connection).
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	on = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		haka.log("new connection %s:%d -> %s:%d", flow.srcip,
			flow.srcport, flow.dstip, flow.dstport)
	end
}

haka.rule{
	on = tcp_connection.events.receive_packet,
	eval = function (flow, pkt, direction)
		local f = pkt.flags
		haka.log("packet %s %s%s%s%s len=%d", direction,
			f.syn and 'S' or '', f.ack and 'A' or '', f.fin and 'F' or '',
			f.rst and 'R' or '', #pkt.payload)
	end
}
