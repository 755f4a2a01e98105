// Reference WebSocket echo client and load generator (Boost.Beast, one thread, blocking I/O).
//
//   echo_client --port P [--host 127.0.0.1] [--path /] [--tls]
//               --mode rtt|pipeline|latency|connect [--size BYTES] [--duration S]
//               [--max-count N] [--warmup N] [--window W] [--rate R] [--conns N]
//
// The harness protocol, shared with every Python client of the suite: connect and warm up,
// print "READY", wait for a line on stdin, measure (bounded by --duration and --max-count),
// print "RESULT <json>", wait for a line on stdin, close and exit. The harness samples the
// CPU time of both processes while they wait, so the window it measures is exact.
//
// Blocking I/O is the cheapest way to drive one connection: one send and one recv syscall
// per message, no reactor in between.
#include "common.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>
#include <vector>

using Clock = std::chrono::steady_clock;

using PlainWS = websocket::stream<tcp::socket>;
using TlsWS = websocket::stream<ssl::stream<tcp::socket>>;

struct Options {
    std::string host;
    std::string port;
    std::string path;
    std::string mode;
    std::size_t size;
    double duration;
    long max_count;
    long warmup;
    long window;
    double rate;
    long conns;
};

static void wait_for_go() {
    std::string line;
    if (!std::getline(std::cin, line)) {
        throw std::runtime_error("stdin closed before the harness said go");
    }
}

static void configure(PlainWS& ws) {
    ws.binary(true);
    ws.auto_fragment(false);
    // One write per frame even at 100 KB: beast masks client frames in this buffer.
    ws.write_buffer_bytes(256 * 1024);
    ws.read_message_max(64 * 1024 * 1024);
}

static void configure(TlsWS& ws) {
    ws.binary(true);
    ws.auto_fragment(false);
    ws.write_buffer_bytes(256 * 1024);
    ws.read_message_max(64 * 1024 * 1024);
}

static void open_ws(PlainWS& ws, const tcp::resolver::results_type& eps, const Options& o) {
    net::connect(ws.next_layer(), eps);
    ws.next_layer().set_option(tcp::no_delay(true));
    configure(ws);
    ws.handshake(o.host + ":" + o.port, o.path);
}

static void open_ws(TlsWS& ws, const tcp::resolver::results_type& eps, const Options& o) {
    net::connect(beast::get_lowest_layer(ws), eps);
    beast::get_lowest_layer(ws).set_option(tcp::no_delay(true));
    ws.next_layer().handshake(ssl::stream_base::client);
    configure(ws);
    ws.handshake(o.host + ":" + o.port, o.path);
}

template <class WS>
static void round_trip(WS& ws, const std::string& payload, beast::flat_buffer& buf) {
    ws.write(net::buffer(payload));
    ws.read(buf);
    if (buf.size() != payload.size()) {
        throw std::runtime_error("echo has " + std::to_string(buf.size()) + " bytes, sent " +
                                 std::to_string(payload.size()));
    }
    buf.consume(buf.size());
}

static double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

template <class WS>
static std::string measure(WS& ws, const Options& o) {
    std::string payload(o.size, 'x');
    beast::flat_buffer buf;
    for (long i = 0; i < o.warmup; ++i) round_trip(ws, payload, buf);
    print_line("READY");
    wait_for_go();

    long count = 0;
    auto t0 = Clock::now();
    auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(o.duration));
    std::string extra;
    if (o.mode == "rtt") {
        while (count < o.max_count && Clock::now() < deadline) {
            round_trip(ws, payload, buf);
            ++count;
        }
    } else if (o.mode == "pipeline") {
        // A window of messages written back to back, then their echoes read: many in flight.
        while (count < o.max_count && Clock::now() < deadline) {
            for (long i = 0; i < o.window; ++i) ws.write(net::buffer(payload));
            for (long i = 0; i < o.window; ++i) {
                ws.read(buf);
                buf.consume(buf.size());
            }
            count += o.window;
        }
    } else if (o.mode == "latency") {
        // Paced sends at a fixed rate: the latency of a round trip on a lightly loaded peer.
        std::vector<double> samples;
        samples.reserve(static_cast<std::size_t>(std::min<double>(o.max_count, o.rate * o.duration + 1)));
        auto period = std::chrono::duration<double>(1.0 / o.rate);
        while (count < o.max_count && Clock::now() < deadline) {
            auto due = t0 + std::chrono::duration_cast<Clock::duration>(period * count);
            std::this_thread::sleep_until(due);
            auto s = Clock::now();
            round_trip(ws, payload, buf);
            samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
            ++count;
        }
        std::sort(samples.begin(), samples.end());
        auto pct = [&](double p) {
            if (samples.empty()) return 0.0;
            // Nearest rank, as the Python clients compute it.
            auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(samples.size())));
            return samples[rank > 0 ? rank - 1 : 0];
        };
        extra = ", \"p50_us\": " + std::to_string(pct(0.50)) + ", \"p99_us\": " +
                std::to_string(pct(0.99)) + ", \"p999_us\": " + std::to_string(pct(0.999));
    } else {
        throw std::runtime_error("unknown --mode '" + o.mode + "': use rtt, pipeline, latency or connect");
    }
    double elapsed = seconds_since(t0);
    print_line("RESULT {\"count\": " + std::to_string(count) + ", \"elapsed\": " +
               std::to_string(elapsed) + extra + "}");
    wait_for_go();
    beast::error_code ec;
    ws.close(websocket::close_code::normal, ec);
    return "";
}

template <class WS, class... Ctx>
static int connect_mode(const tcp::resolver::results_type& eps, const Options& o, net::io_context& ioc,
                        Ctx&... ctx) {
    // Idle connections: the server's memory per connection, and the time to open them.
    std::vector<std::unique_ptr<WS>> conns;
    conns.reserve(static_cast<std::size_t>(o.conns + o.warmup));
    for (long i = 0; i < o.warmup; ++i) {
        conns.push_back(std::make_unique<WS>(ioc, ctx...));
        open_ws(*conns.back(), eps, o);
    }
    print_line("READY");
    wait_for_go();
    auto t0 = Clock::now();
    long count = 0;
    auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(o.duration));
    while (count < o.conns && Clock::now() < deadline) {
        conns.push_back(std::make_unique<WS>(ioc, ctx...));
        open_ws(*conns.back(), eps, o);
        ++count;
    }
    double elapsed = seconds_since(t0);
    print_line("RESULT {\"count\": " + std::to_string(count) + ", \"elapsed\": " +
               std::to_string(elapsed) + "}");
    wait_for_go();
    return 0;  // the kernel closes the sockets at exit; closing 10,000 politely only adds noise
}

int main(int argc, char** argv) {
    try {
        auto args = parse_args(argc, argv);
        if (args.count("version")) {
            print_line(versions_json());
            return 0;
        }
        alarm(static_cast<unsigned>(opt_long(args, "lifetime", 600)));
        Options o;
        o.host = opt(args, "host", "127.0.0.1");
        o.port = opt(args, "port", "");
        if (o.port.empty()) throw std::runtime_error("--port is required");
        o.path = opt(args, "path", "/");
        o.mode = opt(args, "mode", "rtt");
        o.size = static_cast<std::size_t>(opt_long(args, "size", 256));
        o.duration = opt_double(args, "duration", 2.0);
        o.max_count = opt_long(args, "max-count", 10000000);
        o.warmup = opt_long(args, "warmup", 200);
        o.window = std::max(1L, opt_long(args, "window", 64));
        o.rate = opt_double(args, "rate", 1000.0);
        o.conns = opt_long(args, "conns", 1000);

        // Thousands of idle connections need as many descriptors as the hard limit allows.
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        }

        net::io_context ioc(1);
        tcp::resolver resolver(ioc);
        auto eps = resolver.resolve(o.host, o.port);
        bool tls = args.count("tls") > 0;
        ssl::context ctx(ssl::context::tls_client);
        ctx.set_verify_mode(ssl::verify_none);  // a self-signed test certificate on loopback

        if (o.mode == "connect") {
            return tls ? connect_mode<TlsWS>(eps, o, ioc, ctx) : connect_mode<PlainWS>(eps, o, ioc);
        }
        if (tls) {
            TlsWS ws(ioc, ctx);
            open_ws(ws, eps, o);
            measure(ws, o);
        } else {
            PlainWS ws(ioc);
            open_ws(ws, eps, o);
            measure(ws, o);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_client: %s\n", e.what());
        return 1;
    }
    return 0;
}
