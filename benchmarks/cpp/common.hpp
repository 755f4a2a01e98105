// Shared helpers for the reference peers (echo_server.cpp, echo_client.cpp).
//
// The peers are a fixed yardstick: they are built with g++ -O2 against Debian's
// header-only Boost.Beast + Boost.Asio, use one thread, and keep no per-message
// allocations in the steady state, so that neither side of a measurement is the
// bottleneck.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/version.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

// Parses "--key value" pairs; a flag without a value maps to "1".
inline std::map<std::string, std::string> parse_args(int argc, char** argv) {
    std::map<std::string, std::string> out;
    for (int i = 1; i < argc; ++i) {
        std::string key = argv[i];
        if (key.rfind("--", 0) != 0) {
            throw std::runtime_error("unexpected argument '" + key + "': options are --key value");
        }
        key = key.substr(2);
        if (i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0) {
            out[key] = argv[++i];
        } else {
            out[key] = "1";
        }
    }
    return out;
}

inline std::string opt(const std::map<std::string, std::string>& args, const std::string& key,
                       const std::string& def) {
    auto it = args.find(key);
    return it == args.end() ? def : it->second;
}

inline long opt_long(const std::map<std::string, std::string>& args, const std::string& key,
                     long def) {
    auto it = args.find(key);
    return it == args.end() ? def : std::stol(it->second);
}

inline double opt_double(const std::map<std::string, std::string>& args, const std::string& key,
                         double def) {
    auto it = args.find(key);
    return it == args.end() ? def : std::stod(it->second);
}

inline void print_line(const std::string& line) {
    std::fputs(line.c_str(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

inline std::string versions_json() {
    return std::string("{\"boost\": \"") + BOOST_LIB_VERSION + "\", \"compiler\": \"" +
           __VERSION__ + "\"}";
}
