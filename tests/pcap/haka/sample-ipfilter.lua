-- sample-ipfilter of the original: alert on and drop every packet from
-- 192.168.10.10, comparing pkt.src with an ipv4.addr. The original's
-- hook, haka.event('ipv4', 'receive_packet'), is written in today's form.
local ipv4 = require('protocol/ipv4')

haka.rule{
	on = haka.dissectors.ipv4.events.receive_packet,
	eval = function (pkt)
		local bad_ip = ipv4.addr('192.168.10.10')
		if pkt.src == bad_ip then
			haka.alert{
				description = string.format("Filtering IP %s", bad_ip),
				severity = 'low'
			}
			pkt:drop()
		end
	end
}
