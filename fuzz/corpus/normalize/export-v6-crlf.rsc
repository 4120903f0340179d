# jan/02/1970 00:00:00 by RouterOS 6.49.10
# software id = X
/ip service
set telnet disabled=yes
