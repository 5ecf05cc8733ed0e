-- tcp_connection's new_connection policy on a connection picked up
-- mid-stream with the server's SYN-ACK: its values are the connection's
-- (client to server port 25), not the first packet's, so the SMTP
-- connection is dropped and no command reaches the rules.
local smtp = require('smtp')
smtp.install_tcp_rule(25)

haka.policy {
	on = haka.dissectors.tcp_connection.policies.new_connection,
	name = 'no mail',
	dstport = 25,
	action = {haka.policy.alert(), haka.policy.drop},
}

haka.rule {
	on = smtp.events.command,
	eval = function (flow, cmd)
		haka.log('command %s reached the rules', cmd.command)
	end
}
