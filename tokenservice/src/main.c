/* tokensmith: command dispatch. */
#include <stdio.h>
#include <string.h>

#include <tokensmith/version.h>

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "version") == 0) {
        printf("tokensmith %s\n", TS_VERSION_STRING);
        return 0;
    }
    fprintf(stderr, "usage: tokensmith version\n");
    return 2;
}
