-- Prints every SMTP event with what flow.smtp says at that point, so that
-- a crafted capture's expected output shows the pairing of replies with
-- commands, the content, the anomalies and the transaction at the end.
local smtp = require('smtp')
local tcp_connection = require('protocol/tcp_connection')

smtp.install_tcp_rule(25)

local function txn(flow)
	local s = flow.smtp
	if s == nil then
		return '(no smtp)'
	end
	return string.format('[helo=%q from=%q rcpt={%s} bytes=%d]', s.helo,
		s.mail_from, table.concat(s.rcpt_to, ','), s.data_bytes)
end

haka.rule{
	on = smtp.events.command,
	eval = function (flow, cmd)
		haka.log("command %q %q %s", cmd.command, cmd.parameter, txn(flow))
	end
}

haka.rule{
	on = smtp.events.response,
	eval = function (flow, res)
		local lines = {}
		for i, r in ipairs(res.responses) do
			lines[i] = r.code .. r.sep .. (r.parameter or '')
		end
		haka.log("response %q %s", table.concat(lines, '|'), txn(flow))
	end
}

haka.rule{
	on = smtp.events.mail_content,
	eval = function (flow, data)
		haka.log("content %q %s", data:asstring(), txn(flow))
	end
}

haka.rule{
	on = smtp.events.anomaly,
	eval = function (flow, name)
		haka.log("smtp anomaly %s", name)
	end
}

haka.rule{
	on = tcp_connection.events.end_connection,
	eval = function (flow)
		haka.log("end connection %s", txn(flow))
	end
}
