using ScheduledPosts.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using ScheduledPosts.ServiceDefaults.Identity;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>The gateway in a test server, on a test class's own database, with its settings injected.</summary>
public sealed class GatewayFactory(IReadOnlyDictionary<string, string?> settings) : WebApplicationFactory<Program>
{
    public const string BootstrapKey = "sp_test-bootstrap-key-0123456789-abcdefghijklmnop";
    public const string AdminToken = "test-admin-token-0123456789-abcdefghijklmnop";

    /// <summary>
    /// The identity the gateway forwarded with <paramref name="echoed"/>, as the <paramref name="audience"/> service
    /// would accept it (checked against the method and path the service received), or null when it would refuse it.
    /// </summary>
    public static InternalIdentity? Identity(EchoedRequest echoed, string audience = "scheduling")
    {
        using var validator = new InternalTokenValidator(audience,
            new Dictionary<string, string> { [InternalIssuers.Gateway] = InternalKeys.Gateway.PublicPem }, TimeSpan.FromSeconds(5), TimeProvider.System);
        string path = echoed.PathAndQuery.Split('?')[0];
        return validator.Validate(echoed.Header(InternalIdentity.Header).SingleOrDefault(), echoed.Method, path, out _)?.Identity;
    }

    /// <param name="scheduling">Where the scheduling cluster points (the appsettings default when null).</param>
    /// <param name="webhooks">Where the webhooks cluster points (the appsettings default when null).</param>
    public static GatewayFactory Create(string connectionString, Uri? scheduling = null, Uri? webhooks = null,
        string? bootstrapKey = BootstrapKey, IReadOnlyDictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = connectionString,
            ["Internal:SigningKeys:gateway"] = InternalKeys.Gateway.PrivatePem,
            ["Bootstrap:Key"] = bootstrapKey,
            // Test clients share one address (the test server gives none): refused keys are never throttled unless a test asks.
            ["RateLimits:FailedAuthentication:Burst"] = "1000000",
        };
        if (scheduling is not null)
        {
            settings["ReverseProxy:Clusters:scheduling:Destinations:default:Address"] = scheduling.ToString();
        }

        if (webhooks is not null)
        {
            settings["ReverseProxy:Clusters:webhooks:Destinations:default:Address"] = webhooks.ToString();
        }

        foreach (var (key, value) in extra ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return new GatewayFactory(settings);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        foreach (var (key, value) in settings)
        {
            builder.UseSetting(key, value);
        }
    }
}
