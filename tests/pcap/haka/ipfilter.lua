-- doc-workshop-ipfilter of the original: alert on and drop every packet
-- whose source is in 192.168.10.0/27, built with ipv4.network on each
-- packet as the workshop does.
local ipv4 = require('protocol/ipv4')

haka.rule{
	hook = ipv4.events.receive_packet,
	eval = function (pkt)
		local bad_network = ipv4.network("192.168.10.0/27")
		if bad_network:contains(pkt.src) then
			haka.alert{
				description = string.format("Filtering IP %s", pkt.src),
				severity = 'low'
			}
			pkt:drop()
		end
	end
}
