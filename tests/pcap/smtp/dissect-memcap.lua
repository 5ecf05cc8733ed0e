-- The SMTP dissector attached from a rule (smtp.dissect) rather than by
-- install_tcp_rule: a session refused by smtp.memcap is not a rule error
-- (the rule goes on), its connection is dropped, and the anomaly is only
-- counted (it is not raised from inside the rule that asked).
local smtp = require('smtp')
local tcp_connection = require('protocol/tcp_connection')

haka.rule{
	on = tcp_connection.events.new_connection,
	eval = function (flow)
		if flow.dstport == 25 then
			smtp.dissect(flow)
			haka.log("dissect asked for port %d, smtp %s", flow.srcport,
				flow.smtp ~= nil and 'attached' or 'refused')
		end
	end
}

haka.rule{
	on = smtp.events.command,
	eval = function (flow, cmd)
		haka.log("command %s from port %d", cmd.command, flow.srcport)
	end
}

haka.rule{
	on = smtp.events.anomaly,
	eval = function (flow, name)
		haka.log("smtp anomaly %s", name)
	end
}
