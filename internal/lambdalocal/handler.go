package lambdalocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxDrain bounds how much of an oversized request body is read and thrown
// away so that its sender hears 413 instead of a connection reset (closing
// a socket with unread data makes the kernel send RST, which can destroy
// the answer on its way). Beyond it the connection is closed anyway.
const maxDrain = 64 << 20

// drainDeadline bounds the time spent draining one oversized body.
const drainDeadline = 10 * time.Second

// throttleRetryAfter is the Retry-After a throttled caller is given, in
// seconds.
const throttleRetryAfter = 1

// Handler serves Lambda's Invoke API:
// POST /2015-03-31/functions/{name or ARN}/invocations.
func (r *Runtime) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{function}/invocations", r.serveInvoke)
	return mux
}

func (r *Runtime) serveInvoke(w http.ResponseWriter, req *http.Request) {
	name := req.PathValue("function")
	if i := strings.LastIndex(name, ":function:"); i >= 0 {
		name = name[i+len(":function:"):]
	}
	if t := req.Header.Get("X-Amz-Invocation-Type"); t != "" && t != "RequestResponse" {
		writeAPIError(w, http.StatusBadRequest, "InvalidParameterValueException", "only RequestResponse invocations are served locally")
		return
	}
	if req.ContentLength > MaxPayload {
		tooLarge(w, req)
		return
	}
	payload, err := io.ReadAll(io.LimitReader(req.Body, MaxPayload+1))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "InvalidRequestContentException", "could not read the request body")
		return
	}
	if len(payload) > MaxPayload {
		tooLarge(w, req)
		return
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	res, err := r.Invoke(req.Context(), name, payload)
	switch {
	case errors.Is(err, ErrUnknownFunction):
		writeAPIError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return
	case errors.Is(err, ErrThrottled):
		w.Header().Set("Retry-After", strconv.Itoa(throttleRetryAfter))
		writeAPIErrorReason(w, http.StatusTooManyRequests, "TooManyRequestsException", "Rate Exceeded.", "ConcurrentInvocationLimitExceeded")
		return
	case req.Context().Err() != nil:
		return // the caller is gone; nobody reads an answer
	case err != nil:
		r.cfg.log.Error("invoke failed", "function", name, "err", err)
		writeAPIError(w, http.StatusBadGateway, "ServiceException", "the local emulator failed; it has been replaced")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if res.FunctionError != "" {
		w.Header().Set("X-Amz-Function-Error", res.FunctionError)
	}
	_, _ = w.Write(res.Payload)
}

// tooLarge answers 413 after reading what is left of the body (bounded in
// bytes and time), so the sender gets the answer rather than a reset.
func tooLarge(w http.ResponseWriter, req *http.Request) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(drainDeadline))
	n, _ := io.Copy(io.Discard, io.LimitReader(req.Body, maxDrain))
	if n >= maxDrain {
		w.Header().Set("Connection", "close")
	}
	writeAPIError(w, http.StatusRequestEntityTooLarge, "RequestTooLargeException",
		fmt.Sprintf("Request must be smaller than %d bytes for the InvokeFunction operation", MaxPayload))
}

func writeAPIError(w http.ResponseWriter, code int, typ, msg string) {
	writeAPIErrorReason(w, code, typ, msg, "")
}

// writeAPIErrorReason writes Lambda's REST-JSON error shape, which the AWS
// SDK decodes into the typed exception (TooManyRequestsException carries a
// Reason).
func writeAPIErrorReason(w http.ResponseWriter, code int, typ, msg, reason string) {
	body := map[string]string{"Type": "User", "message": msg}
	if reason != "" {
		body["Reason"] = reason
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
