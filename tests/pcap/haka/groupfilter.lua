-- The original's group filter sample on the workshop's TCP capture: a
-- rule group on new connections where any rule returning true accepts
-- the connection; when none does, final alerts and drops it. A first
-- rule drops the first FTP connection outright: the group ends there
-- (no 'after' line, no final alert); the second one reaches final.
local tcp_connection = require('protocol/tcp_connection')
local log = haka.log_section('filter')

local group = haka.rule_group{
	name = 'my_group',
	on = tcp_connection.events.new_connection,
	init = function (flow, pkt)
		log.debug('Entering packet filtering rules : %d --> %d',
			pkt.srcport, pkt.dstport)
	end,
	continue = function (ret, flow, pkt)
		return not ret
	end,
	final = function (flow, pkt)
		haka.alert{
			description = 'Packet dropped : drop by default',
			targets = {haka.alert.service('tcp', pkt.dstport)},
		}
		flow:drop()
	end,
}

group:rule{eval = function (flow, pkt)
	if pkt.dstport == 21 and pkt.srcport == 58446 then
		flow:drop()
	end
end}

group:rule{eval = function (flow, pkt)
	log.info('after the FTP rule: port %d', pkt.dstport)
	if pkt.dstport == 80 then
		log.info('Authorizing traffic on port 80')
		return true
	end
end}

group:rule(function (flow, pkt)
	if pkt.dstport == 22 then
		log.info('Authorizing traffic on port 22')
		return true
	end
end)
