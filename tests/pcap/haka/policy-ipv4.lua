-- A user policy applied to every IPv4 packet: traffic from the client
-- 192.168.20.99 to the server 192.168.20.1 is alerted on and dropped.
local ipv4 = require('protocol/ipv4')

local dmz = haka.policy.new('test_policy')

haka.rule {
	on = haka.dissectors.ipv4.events.receive_packet,
	eval = function (pkt)
		dmz:apply{
			ctx = pkt,
			values = {ip_src = pkt.src, ip_dst = pkt.dst},
		}
	end
}

haka.policy {
	on = dmz,
	name = 'test that a policy can be defined and used',
	ip_src = ipv4.addr('192.168.20.99'),
	ip_dst = ipv4.addr('192.168.20.1'),
	action = haka.policy.drop_with_alert{
		description = 'forbidden traffic to dmz',
	},
}
