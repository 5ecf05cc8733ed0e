-- Training rules of scripts/build-pgo.sh: the SMTP dissector on the usual
-- ports, with a rule on each of its events as security rules write them
-- (a look at every command and reply, a streamed read of every mail), so
-- that the profile covers the dissector, the event dispatch and the rule
-- API. Its output (the alerts of the tutorial capture and of the
-- dissector) goes to /dev/null: build-pgo.sh only needs the profile.
local smtp = require('smtp')

smtp.install_tcp_rule(25)
smtp.install_tcp_rule(587)
smtp.install_tcp_rule(2525)

local replies, bytes = 0, 0

haka.rule{
	on = smtp.events.command,
	eval = function (flow, cmd)
		local verb = cmd.command
		if verb ~= nil and string.upper(verb) == 'MAIL' then
			local param = cmd.parameter or ''
			if string.find(string.lower(param), 'suspicious.org', 1, true) then
				haka.alert{
					description = 'forbidden mail domain',
					severity = 'low',
					sources = haka.alert.address(flow.srcip),
				}
			end
		end
	end
}

haka.rule{
	on = smtp.events.response,
	eval = function (flow, res)
		replies = replies + #res.responses
	end
}

haka.rule{
	on = smtp.events.mail_content,
	options = {streamed = true},
	eval = function (flow, iter)
		for sub in iter:foreach_available() do
			bytes = bytes + #sub
		end
	end
}
