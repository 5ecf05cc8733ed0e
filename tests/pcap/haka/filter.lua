-- tcp-filter of the original: only connections to port 80 are allowed;
-- dropping the SYN drops the whole connection.
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	hook = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		if pkt.dstport ~= 80 then
			pkt:drop()
		end
	end
}
