using ScheduledPosts.Gateway;
using ScheduledPosts.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();
// The gateway establishes the internal identity rather than checking one.
app.UseServiceDefaults(requireInternalIdentity: false);
app.MapGatewayEndpoints();
// The gateway's port is public: its metrics need the admin token (401 without it, and always when none is set).
app.MapDefaultEndpoints(protectMetrics: metrics => metrics.RequireAuthorization(ScheduledPosts.Gateway.Admin.AdminApi.Policy));

await app.PrepareGatewayAsync();
await app.RunAsync();
