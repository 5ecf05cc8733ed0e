-- The tutorial's test file: enable the SMTP dissector on port 25 and dump
-- every command and response it parses.
--
--   hakapcap samples/smtp_test.lua samples/smtp.pcap
--   hakapcap -d samples/smtp_test.lua samples/smtp.pcap   (parsing traces)

local smtp = require('smtp')

smtp.install_tcp_rule(25)

haka.rule{
	hook = smtp.events.command,
	eval = function (flow, command)
		print("SMTP COMMAND")
		debug.pprint(command, nil, nil, { debug.hide_underscore, debug.hide_function })
	end
}

haka.rule{
	hook = smtp.events.response,
	eval = function (flow, response)
		print("SMTP RESPONSE")
		debug.pprint(response, nil, nil, { debug.hide_underscore, debug.hide_function })
	end
}
