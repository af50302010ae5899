using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using ScheduledPosts.ServiceDefaults.Data;

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
    /// <c>idempotency-key</c> metadata on <typeparamref name="TService"/>'s calls (<see cref="GrpcIdempotency"/>); the
    /// service's schema needs an <c>idempotency_keys</c> table.
    /// </summary>
    public static IGrpcServerBuilder AddIdempotency<TService>(this IGrpcServerBuilder grpc) where TService : class
    {
        grpc.Services.TryAddSingleton<IdempotencyKeys>();
        return grpc.AddServiceOptions<TService>(o => o.Interceptors.Add<GrpcIdempotency>());
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
