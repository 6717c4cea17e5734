tests/interop/kymqtt: tests/interop/kymqtt.c firmware/fileio.h \
 firmware/mqttc.h netstack/mqtt.h
firmware/fileio.h:
firmware/mqttc.h:
netstack/mqtt.h:
