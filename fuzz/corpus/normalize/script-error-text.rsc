# 2024-05-01 10:00:00 by RouterOS 7.1
/system script
add name=s source="\
    :put \"Error: x\"\
    "
