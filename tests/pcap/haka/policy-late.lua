-- The first new_connection policy, registered by a new_connection rule
-- while that event is being dispatched: the dispatch under way runs each
-- of its rules once (not the first one twice, and not without the
-- second); the policy applies from the next connection on, before the
-- rules.
local tcpc = require('protocol/tcp_connection')
local n = 0
haka.rule{on = tcpc.events.new_connection, eval = function (flow, pkt)
	n = n + 1
	haka.log("first rule, connection %d to port %d", n, flow.dstport)
	if n == 1 then
		haka.policy{on = tcpc.policies.new_connection, name = 'late',
			action = function (policy, flow, values)
				haka.log("late policy, port %d", values.dstport)
			end}
	end
end}
haka.rule{on = tcpc.events.new_connection, eval = function (flow)
	haka.log("second rule, port %d", flow.dstport)
end}
