/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <syslog.h>

#include "util.h"

/* The daemon's own messages. Its stderr is a journal stream: a "<N>" prefix sets each line's
 * priority (sd-daemon(3)). The _errno forms append ": " and the error's text, and return
 * -abs(error), so that `return log_warning_errno(r, "...");` works as in systemd. */
int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);

#define log_error(...) log_internal(LOG_ERR, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_WARNING, 0, __VA_ARGS__)
#define log_notice(...) log_internal(LOG_NOTICE, 0, __VA_ARGS__)
#define log_info(...) log_internal(LOG_INFO, 0, __VA_ARGS__)
#define log_error_errno(error, ...) log_internal(LOG_ERR, (error), __VA_ARGS__)
#define log_warning_errno(error, ...) log_internal(LOG_WARNING, (error), __VA_ARGS__)
