#!/usr/bin/env python3
"""Forwarding through the switch while a firmware image is uploaded over HTTP (issue 9 item 6).

  cargo xtask image && python3 qemu/scripts/upload-forwarding.py [TARGET_DPU_DIR]

Boots dpuboot and the kernel from target/dpu (flash0.img, a copy of flash1.img) with mgmt0 on
user networking (HTTP forwarded to loopback) and two data ports on UDP sockets, makes an
operator token on the console, sends 60-byte frames port1 -> port2 at a steady offered rate,
and counts what comes out of port2: for 5 s idle, then while `curl` uploads the signed image
to POST /v1/firmware:upload and the task verifies it, then 3 s after. Prints the rates, the
share during the upload, the upload throughput, the task's verdict and the loop's longest
pass (`stats` window covering the upload). Measured on a shared machine the figures are
noisy: compare the rates of one run.
"""
import socket, subprocess, threading, time, os, sys, re, json
W = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target", "dpu")
TMP = os.path.join(W, "upload-forwarding")
os.makedirs(TMP, exist_ok=True)
HA, QA, HB, QB, HTTP = 19001, 19002, 19003, 19004, 19080
subprocess.run(["cp", f"{W}/flash1.img", os.path.join(TMP, "flash1.img")], check=True)
args = ["qemu-system-aarch64", "-machine", "virt", "-cpu", "cortex-a72", "-m", "256M", "-smp", "1",
        "-display", "none", "-global", "virtio-mmio.force-legacy=false", "-serial", "stdio", "-monitor", "none",
        "-drive", f"if=pflash,format=raw,unit=0,file={W}/flash0.img,readonly=on",
        "-drive", "if=pflash,format=raw,unit=1,file=" + os.path.join(TMP, "flash1.img"),
        "-netdev", f"user,id=mgmt,hostfwd=tcp:127.0.0.1:{HTTP}-:80", "-device", "virtio-net-device,netdev=mgmt",
        "-netdev", f"socket,id=porta,udp=127.0.0.1:{HA},localaddr=127.0.0.1:{QA}", "-device", "virtio-net-device,netdev=porta,mac=52:54:00:00:00:01",
        "-netdev", f"socket,id=portb,udp=127.0.0.1:{HB},localaddr=127.0.0.1:{QB}", "-device", "virtio-net-device,netdev=portb,mac=52:54:00:00:00:02"]
q = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
out = []
def reader():
    while True:
        b = q.stdout.read1(4096)
        if not b: return
        out.append(b.decode("latin1"))
threading.Thread(target=reader, daemon=True).start()
def wait(text, t=60):
    end = time.time() + t
    while time.time() < end:
        if text in "".join(out): return
        time.sleep(0.05)
    raise SystemExit("timeout waiting for " + text + "\n" + "".join(out)[-2000:])
def send(line):
    q.stdin.write((line + "\r").encode()); q.stdin.flush()
wait("dpu> ")
send("token add bench operator"); time.sleep(1)
m = re.search(r"([A-Za-z0-9_-]{20,})", "".join(out).split("token add bench operator")[-1])
token = m.group(1)
wait("DHCP lease", 30)
sa = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sa.bind(("127.0.0.1", HA))
sb = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sb.bind(("127.0.0.1", HB)); sb.settimeout(0.2)
mac_a, mac_b = bytes.fromhex("02000000000a"), bytes.fromhex("02000000000b")
frame_b = mac_a + mac_b + b"\x08\x00" + bytes(46)
frame_a = mac_b + mac_a + b"\x08\x00" + bytes(46)
sb.sendto(frame_b, ("127.0.0.1", QB)); time.sleep(0.2)  # the switch learns mac_b on port2
count = [0]; sent = [0]; stop = [False]
def rx():
    while not stop[0]:
        try:
            sb.recv(2048); count[0] += 1
        except socket.timeout: pass
threading.Thread(target=rx, daemon=True).start()
def tx():
    while not stop[0]:
        for _ in range(64): sa.sendto(frame_a, ("127.0.0.1", QA))
        sent[0] += 64
        time.sleep(0.0002)
threading.Thread(target=tx, daemon=True).start()
def rate(seconds):
    c0, t0 = count[0], time.time(); time.sleep(seconds); return (count[0] - c0) / (time.time() - t0)
time.sleep(1)
s0 = sent[0]; ts = time.time(); idle = rate(5); offered = (sent[0] - s0) / (time.time() - ts)
send("stats"); time.sleep(0.5)
mark = len("".join(out))
result = {}
def upload():
    t0 = time.time()
    r = subprocess.run(["curl", "-s", "-i", "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/octet-stream",
                        "--data-binary", f"@{W}/dpu-runtime.signed.bin", f"http://127.0.0.1:{HTTP}/v1/firmware:upload"], capture_output=True, text=True)
    result["seconds"] = time.time() - t0; result["answer"] = r.stdout
up = threading.Thread(target=upload); c0, t0 = count[0], time.time(); up.start(); up.join()
upload_end = time.time(); during_body = (count[0] - c0) / (upload_end - t0)
time.sleep(0.5)
after = rate(3)
stop[0] = True
loc = re.search(r"Location: (\S+)", result["answer"])
task = subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{HTTP}" + (loc.group(1) if loc else "/v1/tasks/1")], capture_output=True, text=True).stdout
for _ in range(100):
    if '"running"' not in task: break
    time.sleep(0.2)
    task = subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{HTTP}" + (loc.group(1) if loc else "/v1/tasks/1")], capture_output=True, text=True).stdout
during = (count[0] - c0) / (time.time() - t0); task_seconds = time.time() - t0
send("stats"); time.sleep(0.5)
stats_text = "".join(out)[mark:]
metrics = subprocess.run(["curl", "-s", "-H", f"Authorization: Bearer {token}", f"http://127.0.0.1:{HTTP}/metrics"], capture_output=True, text=True).stdout
size = os.path.getsize(f"{W}/dpu-runtime.signed.bin")
print("offered pps", round(offered), "idle forwarding pps", round(idle), "during body pps", round(during_body), "during body+verify pps", round(during), "(", round(task_seconds,2), "s ) share", round(during / idle, 3), "after pps", round(after))
print("upload", size, "bytes in", round(result["seconds"], 2), "s =", round(size / result["seconds"] / 1024), "KiB/s")
print("answer head:", result["answer"].split("\r\n\r\n")[0].replace("\r\n", " | "))
print("task:", task)
print("\n".join(l for l in metrics.splitlines() if l.startswith("dpu_loop")))
print(stats_text[-1200:])
q.kill()
