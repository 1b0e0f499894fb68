# A Modbus/TCP client (Debian's python3-pymodbus): runs the operations named on the command line, one JSON line each.
#   read-hr ADDR COUNT | write-reg ADDR VALUE | write-coil ADDR 0|1 | loop N (N reads of 10 holding registers)
import json
import sys

from pymodbus.client import ModbusTcpClient

port = int(sys.argv[1])
client = ModbusTcpClient("127.0.0.1", port=port, timeout=120, retries=0)
if not client.connect():
    print(json.dumps({"error": "cannot connect"}), flush=True)
    sys.exit(2)

ops = sys.argv[2:]
i = 0
while i < len(ops):
    op = ops[i]
    a = int(ops[i + 1])
    b = int(ops[i + 2]) if op != "loop" else 0
    i += 3 if op != "loop" else 2
    try:
        if op == "read-hr":
            r = client.read_holding_registers(a, b, slave=1)
        elif op == "write-reg":
            r = client.write_register(a, b, slave=1)
        elif op == "write-coil":
            r = client.write_coil(a, bool(b), slave=1)
        else:
            for _ in range(a):
                r = client.read_holding_registers(0, 10, slave=1)
        out = {"op": op, "ok": not r.isError()}
        if r.isError():
            out["exception"] = getattr(r, "exception_code", None)
            out["text"] = str(r)
        elif hasattr(r, "registers"):
            out["registers"] = r.registers
    except Exception as err:  # the client's own report of a failure
        out = {"op": op, "ok": False, "error": str(err)}
    print(json.dumps(out), flush=True)
client.close()
