-- The tutorial's mail content dump: print the content of every mail (the
-- DATA between the 354 reply and the final dot, dot-unstuffed).
--
--   hakapcap rules/mail_content.lua samples/smtp.pcap

local smtp = require('smtp')

smtp.install_tcp_rule(25)

haka.rule{
	hook = smtp.events.mail_content,
	options = {
		streamed = true,
	},
	eval = function (flow, iter)
		local mail = {}
		for sub in iter:foreach_available() do
			table.insert(mail, sub:asstring())
		end
		print("== Mail Content ==")
		print(table.concat(mail))
		print("== End Mail Content ==")
	end
}
