/* Links and runs: the machine types are there and the default is "pc". */
#include <seoib/seoib.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    seoib_context *ctx = NULL;
    const seoib_machine *m = NULL;
    seoib_error *err = seoib_context_new(&ctx);
    if (!err) {
        err = seoib_machine_default(ctx, &m);
    }
    if (err) {
        fprintf(stderr, "%s\n", seoib_error_message(err));
        seoib_error_free(err);
        seoib_context_free(ctx);
        return 1;
    }
    printf("libseoib %u: %zu machine types, default %s (alias %s)\n",
           (unsigned)seoib_version(), seoib_machine_count(ctx),
           seoib_machine_name(m), seoib_machine_alias(m));
    int ok = seoib_machine_count(ctx) > 0 && strcmp(seoib_machine_alias(m), "pc") == 0;
    seoib_context_free(ctx);
    return ok ? 0 : 1;
}
