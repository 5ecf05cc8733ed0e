-- The workshop's TCP filter written as policies on new connections:
-- only ports 22 and 80 are let through, any other connection is
-- alerted on and dropped. The last eligible policy wins.
local tcp_connection = require('protocol/tcp_connection')

-- Registered before the policies, yet it runs after them: the policy
-- comes first, and a dropped connection goes no further.
haka.rule {
	on = tcp_connection.events.new_connection,
	eval = function (flow, pkt)
		haka.log('accepted connection to port %d', pkt.dstport)
	end
}

haka.policy {
	on = tcp_connection.policies.new_connection,
	name = 'drop by default',
	action = {haka.policy.alert(), haka.policy.drop},
}

haka.policy {
	on = tcp_connection.policies.new_connection,
	name = 'authorized services',
	dstport = haka.policy.set{22, 80},
	action = haka.policy.accept,
}
