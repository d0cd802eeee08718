// A streaming HTTP function as aws-lambda-go's lambdaurl documents it: an http.Handler whose
// writes reach the client while it runs (function URL InvokeMode RESPONSE_STREAM).
package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/lambdaurl"
)

func main() {
	lambdaurl.Start(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Streamed", "yes")
		w.WriteHeader(http.StatusAccepted)
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "part %d of %s\n", i, r.URL.Path)
			time.Sleep(400 * time.Millisecond)
		}
	}))
}
