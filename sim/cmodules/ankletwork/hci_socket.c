// The simulated board's HCI on a unix-domain socket instead of a serial device.
//
//     MICROPYBTUART=unix:@anklet-hci-1234-1 micropython ...   # an abstract socket (Linux)
//     MICROPYBTUART=unix:/tmp/hci.sock micropython ...        # a socket file
//
// MicroPython's unix port (ports/unix/mpbthciport.c) opens MICROPYBTUART with open(), sets it
// raw with tcgetattr/tcsetattr, then reads and writes it non-blocking. The simulator used to
// hand it a pty, and a pty read waits in the kernel (flush_work) until the tty workqueue's
// kworkers have moved the bytes the other end wrote. Those kworkers run at ordinary priority:
// on a machine whose cores are all busy they starve, and with them both boards of a two-board
// BLE session, for seconds together (their IMU FIFOs overflowed; docs/ARCHITECTURE.md, "Tests").
// A socket's bytes are in the reader's queue as soon as write() returns.
//
// The linker's --wrap (micropython.mk) sends open64/open, tcgetattr and tcsetattr here: a
// `unix:` path connects a SOCK_STREAM socket (O_NONBLOCK if asked, as the pty was opened), and
// the termios calls on that fd succeed without doing anything (a socket has no line settings).
// Every other path and fd goes to the real function unchanged; nothing in MicroPython's source
// is changed.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE // O_TMPFILE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int __real_open64(const char *path, int flags, ...);
int __real_open(const char *path, int flags, ...);
int __real_tcgetattr(int fd, struct termios *termios_p);
int __real_tcsetattr(int fd, int optional_actions, const struct termios *termios_p);

#define HCI_SOCKET_PREFIX "unix:"

// The fd of the last HCI socket opened (-1: none). The termios calls check that it is still a
// socket, so an fd number reused by a file after the socket's close() is not mistaken for it.
static int hci_socket_fd = -1;

static int hci_socket_connect(const char *spec, int flags) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    size_t len = strlen(spec);
    socklen_t addr_len;
    if (spec[0] == '@') {
        // Abstract: a leading NUL, then the name (no terminator; the length says where it ends).
        if (len > sizeof(addr.sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(addr.sun_path + 1, spec + 1, len - 1);
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    } else {
        if (len >= sizeof(addr.sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(addr.sun_path, spec, len + 1);
        addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | ((flags & O_CLOEXEC) ? SOCK_CLOEXEC : 0), 0);
    if (fd < 0) {
        return -1;
    }
    // Connected blocking (a listening unix socket accepts at once, or refuses), then made
    // non-blocking as asked: a non-blocking connect could return EAGAIN on a full backlog.
    if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0
        || ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    hci_socket_fd = fd;
    return fd;
}

static int is_hci_socket(int fd) {
    struct stat st;
    return fd >= 0 && fd == hci_socket_fd && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

// open() is variadic: the mode is there only with O_CREAT or O_TMPFILE (open(2)).
static int needs_mode(int flags) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

// open64 and open: a `unix:` path is the HCI socket; anything else goes to `real`, with the mode
// when there is one.
static int open_or_connect(int (*real)(const char *, int, ...), const char *path, int flags,
    va_list args) {
    if (strncmp(path, HCI_SOCKET_PREFIX, strlen(HCI_SOCKET_PREFIX)) == 0) {
        return hci_socket_connect(path + strlen(HCI_SOCKET_PREFIX), flags);
    }
    if (needs_mode(flags)) {
        return real(path, flags, va_arg(args, mode_t));
    }
    return real(path, flags);
}

int __wrap_open64(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    int fd = open_or_connect(__real_open64, path, flags, args);
    va_end(args);
    return fd;
}

int __wrap_open(const char *path, int flags, ...) {
    va_list args;
    va_start(args, flags);
    int fd = open_or_connect(__real_open, path, flags, args);
    va_end(args);
    return fd;
}

int __wrap_tcgetattr(int fd, struct termios *termios_p) {
    if (is_hci_socket(fd)) {
        memset(termios_p, 0, sizeof(*termios_p));
        return 0;
    }
    return __real_tcgetattr(fd, termios_p);
}

int __wrap_tcsetattr(int fd, int optional_actions, const struct termios *termios_p) {
    if (is_hci_socket(fd)) {
        return 0;
    }
    return __real_tcsetattr(fd, optional_actions, termios_p);
}
