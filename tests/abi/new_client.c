/* A "new client" against an older library: a program built against a later
 * header passes structs larger than this library knows. The library accepts
 * them while the fields it does not know are zero, and refuses them with
 * PLX_ERR_VERSION and a message otherwise: never a crash, never a silently
 * ignored option. plx_abi_compatible tells such a client up front. */
#include <parallax.h>
#include <stdio.h>
#include <string.h>

/* plx_runtime_options_t as a later header might extend it. */
typedef struct {
  plx_runtime_options_t known;
  int64_t new_option;
  int64_t another;
} future_runtime_options_t;

int main(void) {
  future_runtime_options_t options;
  plx_runtime_t* runtime = NULL;
  plx_status_t status;
  const char* message;

  if (plx_abi_compatible(PLX_VERSION_MAJOR, PLX_VERSION_MINOR + 1)) {
    fprintf(stderr, "FAIL: library %s claims to serve a %d.%d client\n", plx_version_string(), PLX_VERSION_MAJOR,
            PLX_VERSION_MINOR + 1);
    return 1;
  }
  if (plx_abi_compatible(PLX_VERSION_MAJOR + 1, 0)) {
    fprintf(stderr, "FAIL: library %s claims to serve a major version %d client\n", plx_version_string(),
            PLX_VERSION_MAJOR + 1);
    return 1;
  }

  memset(&options, 0, sizeof options);
  if (plx_runtime_options_init(&options.known, sizeof options) != PLX_OK) {
    fprintf(stderr, "FAIL: _init refused a larger struct: %s\n", plx_last_error_message());
    return 1;
  }
  if (options.known.struct_size != sizeof options || options.new_option != 0) {
    fprintf(stderr, "FAIL: _init must keep the caller's size and zero what it does not know\n");
    return 1;
  }
  options.known.device_policy = PLX_DEVICE_CPU_ONLY;
  /* Unknown fields zero: accepted. */
  if (plx_runtime_create(&options.known, &runtime) != PLX_OK) {
    fprintf(stderr, "FAIL: a larger struct with zero new fields was refused: %s\n", plx_last_error_message());
    return 1;
  }
  plx_runtime_destroy(runtime);
  runtime = NULL;
  /* A field this library does not know is set: PLX_ERR_VERSION, no runtime. */
  options.new_option = 42;
  status = plx_runtime_create(&options.known, &runtime);
  message = plx_last_error_message();
  if (status != PLX_ERR_VERSION || runtime != NULL || !message || !strstr(message, "newer header")) {
    fprintf(stderr, "FAIL: expected PLX_ERR_VERSION for an unknown field, got %d (%s)\n", (int)status,
            message ? message : "no message");
    return 1;
  }
  printf("OK: %s\n", message);
  return 0;
}
