-- The 0.4 API of the original: the dissector selected by a policy, rules
-- on haka.dissectors.smtp.events with 'on ='.
haka.policy{
	on = haka.dissectors.tcp_connection.policies.next_dissector,
	port = 25,
	action = haka.dissectors.smtp.install
}

haka.rule{
	on = haka.dissectors.smtp.events.command,
	eval = function (flow, message)
		-- a field of the rules' own on the flow, kept between events
		if message.command == 'HELO' then
			flow.ncommands = 0
		end
		flow.ncommands = flow.ncommands + 1
		haka.log("command %s state=%s n=%d", message.command, flow.state,
			flow.ncommands)
	end
}

haka.rule{
	on = haka.dissectors.smtp.events.response,
	eval = function (flow, resp)
		local t = flow.smtp
		haka.log("response %s helo=%s from=%s rcpt=%d", resp.responses[1].code,
			t.helo, t.mail_from, #t.rcpt_to)
	end
}
