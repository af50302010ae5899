using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace ScheduledPosts.ServiceDefaults.Messaging;

public static class GrpcServerExtensions
{
    /// <summary>The gRPC server of a service: errors mapped from <see cref="Errors.ApiException"/>, health and reflection.</summary>
    public static IGrpcServerBuilder AddGrpcServerDefaults(this IServiceCollection services)
    {
        var grpc = services.AddGrpc(o =>
        {
            o.Interceptors.Add<ApiErrorInterceptor>();
            // Otherwise gRPC's catch-all for unknown services matches REST paths like POST /v1/posts and answers 404.
            o.IgnoreUnknownServices = true;
        });
        services.AddGrpcHealthChecks();
        services.AddGrpcReflection();
        return grpc;
    }

    /// <summary>
    /// <c>grpc.health.v1</c> (open, like <c>/healthz</c>) and server reflection, next to the service's own gRPC services.
    /// Reflection needs an internal identity like every other call (it describes the internal API).
    /// </summary>
    public static WebApplication MapGrpcServerDefaults(this WebApplication app)
    {
        app.MapGrpcHealthChecksService().AllowAnonymous();
        app.MapGrpcReflectionService();
        return app;
    }
}
