using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.RateLimiting;
using Npgsql;
using ScheduledPosts.Gateway.Admin;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Gateway.Observability;
using ScheduledPosts.Gateway.OpenApi;
using ScheduledPosts.Gateway.Proxy;
using ScheduledPosts.Gateway.RateLimiting;
using ScheduledPosts.Gateway.Workspaces;
using ScheduledPosts.ServiceDefaults.Data;
using ScheduledPosts.ServiceDefaults.Http;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Gateway;

public static class Extensions
{
    public const string Schema = "gateway";

    /// <summary>The service identity the gateway signs its own calls to the services with (fetching their OpenAPI documents): no scope.</summary>
    public static readonly InternalIdentity Identity = InternalIdentity.Service(InternalIssuers.Gateway);

    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddPostgres(builder.Configuration, Schema);
        builder.AddInternalTokenIssuer(InternalIssuers.Gateway);

        services.AddOptions<ApiKeyOptions>()
            .BindConfiguration(ApiKeyOptions.Section)
            .Validate(o => o.IsValid(), "ApiKeys:CacheDuration, CacheSize, MaxConcurrentLookups and MaxActivePerWorkspace must be positive.")
            .ValidateOnStart();
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<ApiKeyRegistry>();
        services.AddSingleton<WorkspaceRegistry>();

        services.AddOptions<BootstrapOptions>()
            .BindConfiguration(BootstrapOptions.Section)
            .Validate(o => o.IsValid(), $"Bootstrap:Key (SP_BOOTSTRAP_KEY) must be at least {ApiKeySecret.MinLength} printable ASCII characters, without spaces.")
            .ValidateOnStart();
        services.AddSingleton<WorkspaceBootstrap>();

        services.AddOptions<AdminOptions>()
            .BindConfiguration(AdminOptions.Section)
            .Validate(o => o.IsValid(), $"Admin:Token (SP_ADMIN_TOKEN), when set, must be at least {AdminOptions.MinLength} printable ASCII characters, without spaces.")
            .ValidateOnStart();

        services.AddSingleton<AdminStatus>();
        services.AddHttpClient(AdminStatus.HttpClientName)
            .AddHttpMessageHandler(sp => new InternalIdentityHandler(sp.GetRequiredService<InternalTokenIssuer>(), AdminStatus.Identity));

        services.AddOptions<RateLimitOptions>()
            .BindConfiguration(RateLimitOptions.Section)
            .Validate(o => o.IsValid(), "RateLimits:RequestsPerSecond and RateLimits:Burst must be positive.")
            .ValidateOnStart();
        services.AddSingleton<KeyRateLimiter>();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<KeyRateLimiter>(KeyRateLimiter.Configure);
        services.AddOptions<FailedAuthenticationOptions>()
            .BindConfiguration(FailedAuthenticationOptions.Section)
            .Validate(o => o.IsValid(), "RateLimits:FailedAuthentication:Burst and PerMinute must be positive.")
            .ValidateOnStart();
        services.AddSingleton<FailedAuthenticationLimiter>();

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null)
            .AddScheme<AuthenticationSchemeOptions, AdminAuthenticationHandler>(AdminAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddScopePolicies()
            .AddPolicy(AdminApi.Policy, p => p.AddAuthenticationSchemes(AdminAuthenticationHandler.SchemeName).RequireAuthenticatedUser());
        services.AddSingleton<IAuthorizationMiddlewareResultHandler, ScopeForbiddenResultHandler>();

        services.AddOptions<PublicApiOptions>().BindConfiguration(PublicApiOptions.Section);
        services.AddSingleton<PublicApiDocument>();
        services.AddHttpClient(PublicApiDocument.HttpClientName)
            .AddHttpMessageHandler(sp => new InternalIdentityHandler(sp.GetRequiredService<InternalTokenIssuer>(), Identity));

        services.AddGrpcPort();
        services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<RouteResourceFilter>()
            .AddTransforms<GatewayTransforms>();
        return builder;
    }

    /// <summary>
    /// After routing and the service defaults, the access checks: the access log, then ASP.NET Core's authentication
    /// (the API key of a <c>/v1</c> request), rate limiting (the key's bucket, 429) and authorization (the endpoint's
    /// policy: 401 without a valid key, 403 without the scope; the admin token on <c>/admin</c>), in that order. Then
    /// the gateway's own endpoints (API keys, the admin API, <c>/openapi.json</c> and <c>/docs</c>) and the proxied
    /// routes of <c>ReverseProxy</c> config, each naming the policy of its resource.
    /// </summary>
    public static WebApplication MapGatewayEndpoints(this WebApplication app)
    {
        app.UseMiddleware<AccessLog>();
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseAuthorization();

        app.MapApiKeysApi();
        app.MapAdminApi();
        app.MapPublicApiDocs();
        app.MapGrpcPort();
        app.MapReverseProxy(proxy =>
            {
                proxy.UseMiddleware<ProxyErrorEnvelope>();
                proxy.UseSessionAffinity();
                proxy.UseLoadBalancing();
                proxy.UsePassiveHealthChecks();
            })
            .ConfigureEndpoints((endpoint, route) =>
            {
                // RouteResourceFilter has made sure every route names its resource's policy (and a valid body limit, if any).
                endpoint.WithMetadata(BodyCheckedDownstream.Instance);
                if (RouteResourceFilter.MaxBodyBytes(route) is { } limit)
                {
                    endpoint.WithMetadata(new BodySizeLimit(limit));
                }
            });
        return app;
    }

    /// <summary>Migrations, then the bootstrap workspace and key; before the gateway takes requests.</summary>
    public static async Task PrepareGatewayAsync(this WebApplication app)
    {
        // Resolved first so a bad Bootstrap:Key fails start-up at once, not after waiting for the database.
        var bootstrap = app.Services.GetRequiredService<WorkspaceBootstrap>();
        var dataSource = app.Services.GetRequiredService<NpgsqlDataSource>();
        await Migrations.ApplyAsync(dataSource, Schema, typeof(Extensions).Assembly, app.Logger, app.Lifetime.ApplicationStopping);
        await bootstrap.RunAsync(app.Lifetime.ApplicationStopping);
    }

    /// <summary>A proxied route's own body limit (media uploads), from its <c>Metadata.MaxRequestBodyBytes</c>.</summary>
    private sealed record BodySizeLimit(long? MaxRequestBodySize) : IRequestSizeLimitMetadata;
}
