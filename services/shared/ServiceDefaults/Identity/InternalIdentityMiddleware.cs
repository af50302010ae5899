using Microsoft.AspNetCore.Http;
using ScheduledPosts.ServiceDefaults.Errors;

namespace ScheduledPosts.ServiceDefaults.Identity;

/// <summary>
/// Refuses every request but health probes that does not carry a valid internal identity: a service
/// reached directly, around the gateway, answers 401. The identity is then available from <see cref="Current"/>.
/// </summary>
public sealed class InternalIdentityMiddleware(RequestDelegate next, InternalIdentityCodec codec)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (IsOpen(context.Request.Path))
        {
            await next(context);
            return;
        }

        var identity = codec.Decode(context.Request.Headers[InternalIdentity.Header]);
        if (identity is null)
        {
            await ErrorEnvelope.Write(context, StatusCodes.Status401Unauthorized, "UNAUTHENTICATED",
                "This service is only reachable through the gateway.");
            return;
        }

        context.Items[typeof(InternalIdentity)] = identity;
        await next(context);
    }

    public static InternalIdentity Current(HttpContext context)
        => context.Items[typeof(InternalIdentity)] as InternalIdentity
           ?? throw ApiException.Unauthenticated();

    private static bool IsOpen(PathString path)
        => path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz")
           || path.StartsWithSegments("/grpc.health.v1.Health") || path.StartsWithSegments("/grpc.reflection");
}
