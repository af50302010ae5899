using ScheduledPosts.Gateway;
using ScheduledPosts.ServiceDefaults;

var builder = WebApplication.CreateBuilder(args);
builder.AddServiceDefaults();
builder.AddGatewayServices();

var app = builder.Build();
// The gateway establishes the internal identity rather than checking one.
app.UseServiceDefaults(requireInternalIdentity: false);
app.MapGatewayEndpoints();
app.MapDefaultEndpoints();

await app.PrepareGatewayAsync();
await app.RunAsync();
