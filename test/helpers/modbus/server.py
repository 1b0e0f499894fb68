# A Modbus/TCP server (Debian's python3-pymodbus): 100 coils and 100 holding registers (register i holds i), on 127.0.0.1:PORT.
import asyncio
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.server import StartAsyncTcpServer


async def main(port):
    store = ModbusSlaveContext(
        di=ModbusSequentialDataBlock(0, [0] * 100),
        co=ModbusSequentialDataBlock(0, [0] * 100),
        hr=ModbusSequentialDataBlock(0, list(range(100))),
        ir=ModbusSequentialDataBlock(0, list(range(100))),
    )
    context = ModbusServerContext(slaves=store, single=True)
    server = await StartAsyncTcpServer(context=context, address=("127.0.0.1", port), defer_start=True)
    print("ready", flush=True)
    await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
