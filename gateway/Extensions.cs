using Npgsql;
using ScheduledPosts.Gateway.ApiKeys;
using ScheduledPosts.Gateway.Proxy;
using ScheduledPosts.Gateway.Workspaces;
using ScheduledPosts.ServiceDefaults.Data;

namespace ScheduledPosts.Gateway;

public static class Extensions
{
    public const string Schema = "gateway";

    public static IHostApplicationBuilder AddGatewayServices(this IHostApplicationBuilder builder)
    {
        builder.Services.AddPostgres(builder.Configuration, Schema);

        builder.Services.AddOptions<ApiKeyOptions>().BindConfiguration(ApiKeyOptions.Section);
        builder.Services.AddSingleton<ApiKeyStore>();

        builder.Services.AddOptions<BootstrapOptions>()
            .BindConfiguration(BootstrapOptions.Section)
            .Validate(o => o.IsValid(), $"Bootstrap:Key (SP_BOOTSTRAP_KEY) must be at least {ApiKeySecret.MinLength} printable ASCII characters, without spaces.")
            .ValidateOnStart();
        builder.Services.AddSingleton<WorkspaceBootstrap>();

        builder.Services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<RouteResourceFilter>()
            .AddTransforms<GatewayTransforms>();
        return builder;
    }

    /// <summary>After routing, before the endpoints: every <c>/v1</c> request is authenticated and scope-checked.</summary>
    public static WebApplication UseApiKeyAuthentication(this WebApplication app)
    {
        app.UseMiddleware<ApiKeyAuthentication>();
        return app;
    }

    /// <summary>The proxied routes of <c>ReverseProxy</c> config, each guarded by the scopes of its declared resource.</summary>
    public static WebApplication MapGatewayProxy(this WebApplication app)
    {
        app.MapReverseProxy(proxy =>
            {
                proxy.UseMiddleware<ProxyErrorEnvelope>();
                proxy.UseSessionAffinity();
                proxy.UseLoadBalancing();
                proxy.UsePassiveHealthChecks();
            })
            // RouteResourceFilter has made sure every route declares its resource.
            .ConfigureEndpoints((endpoint, route) => endpoint.WithMetadata(new ResourceScope(route.Metadata![ResourceScope.MetadataKey])));
        return app;
    }

    /// <summary>Migrations, then the bootstrap workspace and key; before the gateway takes requests.</summary>
    public static async Task PrepareDatabaseAsync(this WebApplication app)
    {
        // Resolved first so a bad Bootstrap:Key fails start-up at once, not after waiting for the database.
        var bootstrap = app.Services.GetRequiredService<WorkspaceBootstrap>();
        var dataSource = app.Services.GetRequiredService<NpgsqlDataSource>();
        await Migrations.ApplyAsync(dataSource, Schema, typeof(Extensions).Assembly, app.Logger, app.Lifetime.ApplicationStopping);
        await bootstrap.RunAsync(app.Lifetime.ApplicationStopping);
    }
}
