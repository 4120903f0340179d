# 2024-05-01 10:00:00 by RouterOS 7.14.3
# software id = ABCD-1234
#
# model = RB5009UG+S+
# serial number = HEX0000000
/interface bridge
add name=bridge1 comment="lan \
    bridge"
/ip address
add address=192.0.2.1/24 interface=bridge1
/system identity
set name=core-1
